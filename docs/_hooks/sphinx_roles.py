"""mkdocs hook: Sphinx cross-reference roles in docstrings shown as plain code.

kgagent's docstrings are Google style but name other objects with Sphinx roles
(``:class:`~kgagent.team.Team```), which mkdocstrings renders literally as
``:class:`` followed by the code span. This hook drops the role and, as Sphinx does for a
``~`` target, keeps only the last dotted name (``Team``). It touches nothing else.
"""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj|const):<code>(~?)([^<]*)</code>")


def _plain(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, page: Any, **_: Any) -> str:
    """mkdocs event: rewrite the roles in each page's rendered HTML."""
    return ROLE.sub(_plain, html)
