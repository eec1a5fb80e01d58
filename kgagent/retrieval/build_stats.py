"""Time and peak memory of each stage of an index build, for its report and manifest.

Issue 24 sets an index build a memory bar (a 10M-fact graph within 12 GiB), so a build
says what it took rather than leaving it to ``/usr/bin/time``: the process's peak
resident set size (``getrusage``'s ``ru_maxrss``, a high-water mark since the process
started) after each stage, and the stage's wall time. The peak after a stage is the
process's peak so far, so the stage where it jumps is the one that needed the memory.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

__all__ = ["Stage", "StageClock", "peak_rss_mib"]


def peak_rss_mib() -> float:
    """The process's peak resident set size so far, MiB (0 where unknown)."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


@dataclass(frozen=True)
class Stage:
    """One stage of a build: its wall time and the process's peak RSS when it ended."""

    name: str
    seconds: float
    peak_rss_mib: float

    def to_dict(self) -> dict[str, float | str]:
        d = asdict(self)
        d["seconds"], d["peak_rss_mib"] = round(self.seconds, 2), round(self.peak_rss_mib, 1)
        return d

    def __str__(self) -> str:
        return f"{self.name} {self.seconds:.1f}s (peak {self.peak_rss_mib:,.0f} MiB)"


class StageClock:
    """Times named stages: ``with clock("facts"): ...``; :attr:`stages` in order."""

    def __init__(self) -> None:
        self.stages: list[Stage] = []

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.stages.append(Stage(name, time.perf_counter() - t0, peak_rss_mib()))
