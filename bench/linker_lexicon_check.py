"""Entity linking with the lexicon derived from the graph vs the old built-in stopword list.

Until issue 17 the linker's stopwords held MetaQA's film words ("movie", "director",
"genre", ...). Now the library keeps English question words only, derives the words that
name relations from the graph's labels (inflections included), and a dataset's own list
comes from the configuration (``retrieval.linker_stopwords``; MetaQA's is
``bench/_metaqa_lexicon.py``). This script builds the linker over the real KB three ways
and links the same questions (brackets removed, as the benchmarks ask them):

- ``old``: the linker as of ``--baseline`` (a commit), read from git and run as it was;
- ``config``: today's linker, derived lexicon + the MetaQA list through a
  ``RetrievalConfig`` (what the MetaQA benchmarks build): should differ from ``old`` on
  no question;
- ``derived``: today's linker with the derived lexicon only (a user's own graph, no
  list): how many top-1 links differ is information, not a target.

With ``--team`` the same is done for the two members of ``bench/team_metaqa.py`` (the KB
split by relation), with ``--pathquestion`` for PQ-2H (no list: its workspaces set none).

    OMP_NUM_THREADS=1 nice -n 10 python bench/linker_lexicon_check.py [--per-hop 1000]
        [--team] [--pathquestion]

Results: bench/results/linker_lexicon.json.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, SHARED, machine, write_results
from _metaqa_lexicon import METAQA_STOPWORDS

#: the last commit whose linker held the MetaQA words in its built-in list
BASELINE = "3ba7e12dcdac26311b9490100d7bcbe8b12b267d"
PEOPLE = ("directed_by", "written_by", "starred_actors")  # as bench/team_metaqa.py
FILMS_BASE = "http://films.example.org/kg/"


def baseline_module(commit: str) -> types.ModuleType:
    """``kgagent/retrieval/linker.py`` as of ``commit``, imported under another name."""
    source = subprocess.run(
        ["git", "show", f"{commit}:kgagent/retrieval/linker.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType("_baseline_linker")
    module.__file__ = f"<{commit[:10]}:kgagent/retrieval/linker.py>"
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def metaqa_questions(data: Path, per_hop: int, seed: int) -> dict[int, list[str]]:
    """A seeded sample of each hop's dev questions, brackets removed (all if per_hop <= 0)."""
    out = {}
    for hops in (1, 2, 3):
        lines = (data / "metaqa" / f"{hops}-hop" / "qa_dev.txt").read_text("utf-8").splitlines()
        qs = [line.split("\t")[0].replace("[", "").replace("]", "") for line in lines if line]
        if 0 < per_hop < len(qs):
            qs = [qs[i] for i in sorted(random.Random(seed + hops).sample(range(len(qs)), per_hop))]
        out[hops] = qs
    return out


def compare(base, other, questions: list[str]) -> dict:
    """How many questions' top-1 entity (and whole top-5 list) differ between two linkers."""
    top1 = full = 0
    examples = []
    t_base = t_other = 0.0
    for q in questions:
        t = time.perf_counter()
        a = base.link(q)
        t_base += time.perf_counter() - t
        t = time.perf_counter()
        b = other.link(q)
        t_other += time.perf_counter() - t
        a_top, b_top = (a[0].iri if a else None), (b[0].iri if b else None)
        full += [c.to_dict() for c in a] != [c.to_dict() for c in b]
        if a_top != b_top:
            top1 += 1
            if len(examples) < 12:
                examples.append(
                    {
                        "question": q,
                        "before": a[0].label if a else None,
                        "after": b[0].label if b else None,
                    }
                )
    n = max(1, len(questions))
    return {
        "questions": len(questions),
        "top1_differ": top1,
        "top5_lists_differ": full,
        "ms_per_question": {"before": 1000 * t_base / n, "after": 1000 * t_other / n},
        "examples": examples,
    }


def build_three(old_module, kg) -> dict:
    """The three linkers over one graph (no encoder: no model is loaded)."""
    from kgagent.config import RetrievalConfig
    from kgagent.retrieval.linker import EntityLinker

    config = RetrievalConfig(linker_stopwords=METAQA_STOPWORDS)
    t = time.perf_counter()
    old = old_module.EntityLinker.from_kg(kg)
    t_old = time.perf_counter() - t
    t = time.perf_counter()
    with_list = EntityLinker.from_kg(kg, stopwords=config.linker_stopwords)
    t_new = time.perf_counter() - t
    derived = EntityLinker.from_kg(kg)
    print(f"  built: old {t_old:.1f} s, new {t_new:.1f} s; lexicon {derived.lexicon}",
          file=sys.stderr)  # fmt: skip
    return {"old": old, "config": with_list, "derived": derived, "lexicon": derived.lexicon}


def check_graph(old_module, kb: Path, questions: dict, *, base_iri: str | None = None) -> dict:
    from kgagent.kg.graph import KnowledgeGraph

    kg = KnowledgeGraph()
    t = time.perf_counter()
    kg.load_triples(kb, base_iri=base_iri) if base_iri else kg.load_triples(kb)
    print(f"{kb.name}: loaded in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    linkers = build_three(old_module, kg)
    out: dict = {"lexicon": linkers["lexicon"]}
    for name, qs in questions.items():
        out[str(name)] = {
            "config": compare(linkers["old"], linkers["config"], qs),
            "derived": compare(linkers["old"], linkers["derived"], qs),
        }
        print(f"  {name}: top-1 differs on {out[str(name)]['config']['top1_differ']} "
              f"(MetaQA list via config) / {out[str(name)]['derived']['top1_differ']} "
              f"(derived only) of {len(qs)}", file=sys.stderr)  # fmt: skip
    kg.close()
    return out


def split_kb(kb: Path, root: Path) -> dict[str, Path]:
    out = {m: root / f"kb_{m}.txt" for m in ("people", "films")}
    with open(kb, encoding="utf-8") as fh, open(out["people"], "w", encoding="utf-8") as a, \
            open(out["films"], "w", encoding="utf-8") as b:  # fmt: skip
        for line in fh:
            parts = line.rstrip("\n").split("|")
            if len(parts) == 3:
                (a if parts[1] in PEOPLE else b).write(line)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=SHARED)
    ap.add_argument("--per-hop", type=int, default=1000, help="questions per hop (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--baseline", default=BASELINE, help="commit of the old linker")
    ap.add_argument("--team", action="store_true", help="also the team's two members")
    ap.add_argument("--pathquestion", action="store_true", help="also PQ-2H")
    args = ap.parse_args()

    from kgagent.retrieval.linker import ENGLISH_STOPWORDS

    old_module = baseline_module(args.baseline)
    old_words, new_words = set(old_module._STOPWORDS.split()), set(ENGLISH_STOPWORDS)
    results: dict = {
        "machine": machine(),
        "baseline": args.baseline,
        # the old built-in list is exactly today's English list plus the MetaQA list
        "old_list_is_english_plus_metaqa": old_words == new_words | set(METAQA_STOPWORDS),
        # the old list's last block (after "sorts") was its dataset block; these stay
        "english_words_kept_from_the_old_last_block": sorted(
            set(old_module._STOPWORDS.split("sorts", 1)[1].split()) - set(METAQA_STOPWORDS)
        ),
    }
    questions = metaqa_questions(args.data, args.per_hop, args.seed)
    kb = args.data / "metaqa" / "kb.txt"
    results["metaqa"] = check_graph(old_module, kb, {f"{h}-hop": q for h, q in questions.items()})
    if args.team:
        pooled = {"all hops": [q for qs in questions.values() for q in qs]}
        with tempfile.TemporaryDirectory() as tmp:
            files = split_kb(kb, Path(tmp))
            results["team"] = {
                "people": check_graph(old_module, files["people"], pooled),
                "films": check_graph(old_module, files["films"], pooled, base_iri=FILMS_BASE),
            }
    if args.pathquestion:
        pq = args.data / "kgqa_pathquestion"
        qs = [line.split("\t")[0] for line in (pq / "PQ-2H.txt").read_text("utf-8").splitlines()]
        results["pathquestion"] = check_graph(old_module, pq / "2H-kb.txt", {"PQ-2H": qs})
    path = write_results("linker_lexicon", results)
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=1)[:4000])
    print(f"-> {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
