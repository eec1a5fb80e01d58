"""Where an index build's encoding runs: this process, or a pool of Ray actors.

The streamed build (:mod:`kgagent.retrieval.fact_stream`) cuts each chunk's new facts into
batches of texts; an executor turns them into vectors and hands them back *in the order
given*, so the caller adds them to the index exactly as a local build does, and the
vectors, ids and manifest are the same whichever executor encoded them.

``local`` calls the build's encoder. ``ray`` sends the batches to a small pool of Ray
actors (``pip install 'kgagent[ray]'``), each of which loads the encoder once from its
registry name and keyword arguments (:data:`kgagent.retrieval.ENCODERS`): that scales the
encoding, the slow part of a build, out to the machines of a Ray cluster, while the
scan, the fact table and the vector index stay in the driver. Executors are registered in
:data:`kgagent.retrieval.EXECUTORS`.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from kgagent.errors import KGAgentError

__all__ = ["LocalExecutor", "RayExecutor"]

#: object store of a Ray started here: batches and vectors of one chunk in flight fit
OBJECT_STORE_BYTES = 128 << 20
#: pieces in flight per actor (one encoding, one queued: the actor is never idle)
IN_FLIGHT_PER_WORKER = 2
#: texts in the smallest piece a batch is cut into for the actors (shipping costs more)
MIN_PIECE = 256


class LocalExecutor:
    """Encodes in this process with the build's encoder (the default)."""

    name = "local"

    def __init__(self, encoder=None) -> None:
        self.encoder = encoder

    def encode_batches(self, batches: Iterable[list[str]], encoder=None) -> Iterator[np.ndarray]:
        """(b, dim) float32 vectors of each batch of texts, in order."""
        encoder = encoder if encoder is not None else self.encoder
        for texts in batches:
            yield np.asarray(encoder.encode(texts), dtype=np.float32)

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RayExecutor:
    """Encodes on ``workers`` Ray actors, each holding its own copy of the encoder.

    Args:
        encoder: the encoder's registry name (or model directory), as
            ``retrieval.encoder`` spells it; an actor calls ``get_encoder(encoder,
            **encoder_kwargs)`` once (a directory must exist on every node).
        encoder_kwargs: ``retrieval.encoder_kwargs``.
        workers: actors in the pool.
        address: a running cluster (``ray://host:port`` or ``host:port``); None starts a
            Ray on this machine, on loopback, without a dashboard, with a small object
            store, and stops it on :meth:`close`. A Ray already initialized in this
            process is used as it is.
        num_cpus: CPUs each actor reserves.
    """

    name = "ray"

    def __init__(
        self,
        *,
        encoder: str,
        encoder_kwargs: dict[str, Any] | None = None,
        workers: int = 2,
        address: str | None = None,
        num_cpus: float = 1,
    ) -> None:
        if workers < 1:
            raise KGAgentError(f"--workers: {workers}; at least 1 Ray worker is needed")
        try:
            import ray
        except ImportError as exc:
            raise KGAgentError(
                "--executor ray needs Ray: pip install 'kgagent[ray]' (or use --executor local)"
            ) from exc
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            if address is None:  # a private Ray: this machine only, no dashboard
                ray.init(
                    num_cpus=max(int(workers * num_cpus), 1),
                    include_dashboard=False,
                    object_store_memory=OBJECT_STORE_BYTES,
                    log_to_driver=False,
                    _node_ip_address="127.0.0.1",
                )
            else:
                ray.init(address=address, log_to_driver=False)
            self._started = True
        actor = ray.remote(num_cpus=num_cpus)(_EncoderActor)
        self._actors = [actor.remote(encoder, dict(encoder_kwargs or {})) for _ in range(workers)]
        try:  # an encoder that cannot load fails here, naming it, not at the first batch
            self.dim = ray.get([a.ready.remote() for a in self._actors])[0]
        except Exception as exc:
            self.close()
            raise KGAgentError(
                f"--executor ray: encoder {encoder!r} failed on a worker: {exc}"
            ) from exc

    def encode_batches(self, batches: Iterable[list[str]], encoder=None) -> Iterator[np.ndarray]:
        """(b, dim) float32 vectors of each batch, in the order given. A batch is cut into
        up to one piece per actor (of at least :data:`MIN_PIECE` texts: a build's batches
        are sized by memory, and a chunk may hold one), the pieces go to the actors in
        turn, at most :data:`IN_FLIGHT_PER_WORKER` per actor at a time, and come back
        joined in order."""
        if encoder is not None and int(encoder.dim) != self.dim:
            raise KGAgentError(
                f"--executor ray: the workers' encoder gives {self.dim}-d vectors, the "
                f"build's {int(encoder.dim)}-d (retrieval.encoder / encoder_kwargs differ)"
            )
        actors = len(self._actors)
        window = IN_FLIGHT_PER_WORKER * actors
        pending: deque[list] = deque()  # per batch: its pieces' results, in order
        in_flight = turn = 0
        for texts in batches:
            n = max(1, min(actors, len(texts) // MIN_PIECE))
            cuts = [len(texts) * i // n for i in range(n + 1)]
            refs = []
            for a, b in itertools.pairwise(cuts):
                refs.append(self._actors[turn % actors].encode.remote(texts[a:b]))
                turn += 1
            pending.append(refs)
            in_flight += len(refs)
            while in_flight >= window:
                in_flight -= len(pending[0])
                yield self._joined(pending.popleft())
        while pending:
            yield self._joined(pending.popleft())

    def _joined(self, refs: list) -> np.ndarray:
        parts = self._ray.get(refs)  # (b_i, dim) each
        return parts[0] if len(parts) == 1 else np.concatenate(parts)  # (b, dim)

    def close(self) -> None:
        """Stops the actors, and the Ray this executor started."""
        ray = self._ray
        for a in getattr(self, "_actors", []):
            ray.kill(a)
        self._actors = []
        if self._started:
            ray.shutdown()
            self._started = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _EncoderActor:
    """One worker: the encoder, loaded once."""

    def __init__(self, name: str, kwargs: dict[str, Any]) -> None:
        from kgagent.retrieval.encoder import get_encoder

        self.encoder = get_encoder(name, **kwargs)

    def ready(self) -> int:
        return int(self.encoder.dim)

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.encoder.encode(texts), dtype=np.float32)  # (b, dim)
