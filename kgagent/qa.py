"""QA files and QA metrics.

Formats, detected per line: plain questions (one per line); MetaQA
``question<TAB>answer1|answer2``; PathQuestion ``question<TAB>answer(alt/alt)<TAB>path``;
JSON lines ``{"question": ..., "answers": [...]}``. MetaQA's ``[brackets]`` are kept: they
are mention hints the linker understands (and strips).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kgagent.errors import QAFormatError
from kgagent.text import normalize_answer

__all__ = ["QAFormatError", "QAItem", "evaluate", "hits_at_1", "read_qa"]


@dataclass(frozen=True)
class QAItem:
    question: str
    answers: tuple[str, ...] = ()
    line: int = 0


_PQ_ANSWER = re.compile(r"^(.*?)\((.*)\)$")


def _pq_answers(field: str) -> tuple[str, ...]:
    m = _PQ_ANSWER.match(field.strip())
    if not m:
        return (field.strip(),)
    alts = [a for a in m.group(2).split("/") if a]
    return tuple(dict.fromkeys([m.group(1).strip(), *alts]))


def read_qa(path: str | Path) -> list[QAItem]:
    """Every question of a QA file, with its gold answers when the file has them."""
    path = Path(path)
    out: list[QAItem] = []
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise QAFormatError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    with fh:
        for n, raw in enumerate(fh, 1):
            line = raw.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            if line.lstrip().startswith("{"):
                try:
                    obj = json.loads(line)
                    q = str(obj["question"])
                    answers = obj.get("answers", obj.get("answer", []))
                    answers = [answers] if isinstance(answers, str) else list(answers)
                except (ValueError, KeyError, TypeError) as exc:
                    raise QAFormatError(
                        f"{path}:{n}: bad JSON QA line ({exc}); expected "
                        '{"question": ..., "answers": [...]}'
                    ) from exc
                out.append(QAItem(q.strip(), tuple(str(a) for a in answers), n))
                continue
            fields = line.split("\t")
            q = fields[0].strip()
            if not q:
                raise QAFormatError(f"{path}:{n}: empty question")
            if len(fields) == 1:
                out.append(QAItem(q, (), n))
            elif len(fields) >= 3 and "#" in fields[2]:  # PathQuestion
                out.append(QAItem(q, _pq_answers(fields[1]), n))
            else:  # MetaQA
                out.append(QAItem(q, tuple(a for a in fields[1].split("|") if a), n))
    return out


def hits_at_1(predictions: Sequence[Sequence[str]], gold: Sequence[Sequence[str]]) -> np.ndarray:
    """(n,) bool: whether each question's first ranked answer is a gold one (matched as
    :func:`evaluate` matches), for tests per question such as a sign test."""
    return np.array(
        [bool(pred) and normalize_answer(pred[0]) in {normalize_answer(a) for a in ans}
         for pred, ans in zip(predictions, gold, strict=True)],
        dtype=bool,
    )  # fmt: skip


def evaluate(
    predictions: Sequence[Sequence[str]],
    gold: Sequence[Sequence[str]],
    *,
    abstained: Sequence[bool] | None = None,
    latencies_ms: Sequence[float] | None = None,
) -> dict[str, float]:
    """Hits@1, exact match and F1 of answer sets, abstention rate, latency percentiles.

    ``predictions`` are ranked answer labels; matching is case- and space-insensitive.
    """
    n = len(gold)
    if n == 0:
        return {"questions": 0}
    hits = em = f1 = 0.0
    for pred, ans in zip(predictions, gold, strict=True):
        g = {normalize_answer(a) for a in ans}
        p = [normalize_answer(a) for a in pred]
        ps = set(p)
        hits += bool(p) and p[0] in g
        em += ps == g
        common = len(ps & g)
        if common:
            prec, rec = common / len(ps), common / len(g)
            f1 += 2 * prec * rec / (prec + rec)
    out = {"questions": n, "hits_at_1": hits / n, "em": em / n, "f1": f1 / n}
    if abstained is not None:
        out["abstention_rate"] = float(np.mean(abstained))
    if latencies_ms:
        lat = np.asarray(latencies_ms, dtype=np.float64)
        out["latency_p50_ms"] = float(np.percentile(lat, 50))
        out["latency_p95_ms"] = float(np.percentile(lat, 95))
    return out
