"""Graph text made safe to print: the one place the CLI escapes what it shows.

Labels, literals and IRIs come from files anyone may have written. Printed raw, ``ESC ]
0 ; title BEL`` retitles the terminal (other escape sequences move the cursor, rewrite
the screen or, on some terminals, answer back), an embedded newline forges a line of
output — a fake ``[9]`` citation under ``kgagent ask`` — and U+202E shows what follows
reversed. :func:`printable` escapes every such character in one field; :func:`json_text`
writes JSON that stays valid and exact but carries none of them raw.

Standard library only: ``kgagent --help`` imports this.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

__all__ = ["UNSAFE", "json_text", "printable", "to_terminal"]

#: C0 controls (newline, tab and ESC included), DEL, C1 controls, and the invisible
#: characters that reorder or break lines: bidi marks, embeddings, overrides and
#: isolates, the Arabic letter mark, the Unicode line and paragraph separators
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
#: what json.dumps leaves raw (it escapes C0 itself; raw C0 in its output is layout)
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(char: str) -> str:
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: Any, *, keep: str = "") -> str:
    """``text`` with every character of :data:`UNSAFE` written as an escape (``\\x1b``,
    ``\\n``, ``\\u202e``), so one field prints as one line that shows what it holds.

    Args:
        keep: characters to leave as they are, for text whose lines are its structure
            (``"\\n"`` for an error message, ``"\\t\\n\\r"`` for CSV the csv module quoted).
    """
    text = str(text)
    if text.isascii() and text.isprintable():
        return text
    return UNSAFE.sub(lambda m: m.group() if m.group() in keep else _escaped(m.group()), text)


def json_text(obj: Any, *, indent: int | None = None) -> str:
    """``obj`` as JSON: non-ASCII text readable, but no :data:`UNSAFE` character raw.

    ``json.dumps`` escapes C0 controls even with ``ensure_ascii=False``, but not DEL, C1
    controls (U+009B is a CSI on many terminals) or the bidi characters; they only occur
    inside JSON strings, where ``\\uXXXX`` denotes the same character.
    """
    text = json.dumps(obj, ensure_ascii=False, indent=indent)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def to_terminal() -> bool:
    """Whether standard output is a terminal (where even quoted newlines mislead)."""
    return sys.stdout.isatty()
