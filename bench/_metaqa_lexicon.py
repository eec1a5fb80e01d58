"""MetaQA's question vocabulary, for the entity linker (``retrieval.linker_stopwords``).

The library knows English question words, and derives the words that name relations from
the graph's own labels ("directed by" makes "director" and "directing" stopwords). What
neither covers are the words MetaQA's question templates use for things the graph has no
label for: the films themselves ("movie", "film"), the people by role ("screenwriter",
"author"), and the tag questions ("what words describe ..."). The MetaQA benchmarks put
this list in the workspace configuration, so that linking is what it was when the list
lived in the library. For a workspace built before, ``configure`` adds the list:

    python bench/_metaqa_lexicon.py WS [WS ...]   # then: kgagent index WS
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["METAQA_STOPWORDS", "configure"]

_WORDS = """
movie movies film films act acts acted acting actor actors actress actresses cast star
stars starred starring co direct directs directed director directors directing write
writes wrote written writer writers writing screenwriter screenwriters screenplay script
scriptwriter author authors creator creators appear appears appeared release releases
released genre genres language languages spoken describe describes described describing
word words topic topics tag tags rating ratings rated rate vote votes share shares shared
fall book books song songs work works
"""

#: words of MetaQA's question templates, matched as written
METAQA_STOPWORDS: list[str] = _WORDS.split()


def configure(workspace: str | Path) -> bool:
    """Puts the list into an existing workspace's configuration; True if it changed.

    A workspace built before the list moved here has none in its ``kgagent.yaml``, and its
    saved linker (format 1) no longer loads: configure it, then re-index it
    (``kgagent index WS``), and it links as it did.
    """
    from kgagent.workspace import Workspace

    ws = Workspace(workspace)
    config = ws.read_config()
    if config.retrieval.linker_stopwords == METAQA_STOPWORDS:
        return False
    retrieval = config.retrieval.model_copy(update={"linker_stopwords": METAQA_STOPWORDS})
    ws.write_config(config.model_copy(update={"retrieval": retrieval}))
    return True


if __name__ == "__main__":
    for path in sys.argv[1:]:
        print(path, "configured" if configure(path) else "already configured")
