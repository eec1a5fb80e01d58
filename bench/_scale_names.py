"""Names for ``bench/_scale_graph.py``'s entities: a pure function of (class, id, seed).

Why a function of the id rather than a table: the generator writes a 10M-fact graph in
chunks and asks questions about entities it never holds in memory; any chunk, and the
question writer, can compute any entity's name on its own. Names are made-up words from
syllables (people "Kelvo Drathiamun", towns "Brisaport", firms "Voukeis Labs") and, for
titles, a few English words that are never words of a property or class label.
"""

from __future__ import annotations

import numpy as np
from numpy.dtypes import StringDType

__all__ = ["GENRES", "base_names", "hash_ids"]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_ONSETS = _words("b c d f g h k l m n p r s t v z br dr gr kr st tr sh ch j w")
_VOWELS = _words("a e i o u ai ei ou ia")
_SYL = [c + v for c in _ONSETS for v in _VOWELS]  # 234 syllables
_SYLLABLES = np.array(_SYL, dtype=StringDType())
_CAPITALS = np.array([s.capitalize() for s in _SYL], dtype=StringDType())
_ENDINGS = np.array(["", "n", "r", "s", "l", "m", "th", "x"], dtype=StringDType())
# title words: none is a word of a property or class label, so a title never reads as one
_ADJ = _words(
    "Silent Golden Hidden Last Broken Distant Crimson Quiet Burning Endless Forgotten Little "
    "Wild Hollow Northern Bitter Bright Pale Sleeping Iron Glass Velvet Falling Lonely Secret "
    "Frozen Scarlet Gentle Restless Ancient"
)
_NOUN = _words(
    "Orchard River Lantern Mirror Harbor Garden Winter Shadow Tower Island Forest Letter Crown "
    "Storm Bridge Promise Silence Voyage Stranger Empire Feather Machine Kingdom Road Window "
    "Season Mountain Flame Circle Daughter Clock Ocean"
)
_ORG_KIND = _words(
    "University Institute Press Studios Group Labs Records Foundation Company Bank Museum Society"
)
_CITY_END = ("", "", "", "ton", "burg", "ville", "port", "field", "mouth", "ford")
_COUNTRY_END = ("ia", "land", "stan", "ora", "ania")
_AWARD_KIND = ("Prize", "Medal", "Cup", "Trophy")
_GENRE_A = _words(
    "dark romantic historical science political psychological musical epic satirical crime "
    "war family experimental gothic urban documentary"
)
_GENRE_B = _words("comedy drama fiction thriller fantasy mystery western horror poetry")
GENRES = [f"{a} {b}" for b in _GENRE_B for a in _GENRE_A]  # 144 distinct


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: uint64 -> well-mixed uint64 (Steele et al., OOPSLA 2014)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def hash_ids(ids: np.ndarray, seed: int, salt: int) -> np.ndarray:
    """A deterministic uint64 per id, independent for each (seed, salt)."""
    key = _mix(np.array([seed * 1_000_003 + salt], dtype=np.uint64))
    return _mix(np.asarray(ids).astype(np.uint64) ^ key)


def _pick(h: np.ndarray, table, shift: int):
    """Entries of ``table`` chosen by bits of ``h`` (h >> shift, mod len)."""
    return table[((h >> np.uint64(shift)) % np.uint64(len(table))).astype(np.intp)]


def _word(h: np.ndarray, syllables: int) -> np.ndarray:
    """A capitalized made-up word of 2-4 syllables per hash, e.g. "Kelvorin"."""
    out = _pick(h, _CAPITALS, 0)
    for k in range(1, syllables):
        out = np.strings.add(out, _pick(h, _SYLLABLES, 8 * k))
    return np.strings.add(out, _pick(h, _ENDINGS, 40))


def _choose(h: np.ndarray, options: tuple[str, ...] | list[str], shift: int) -> np.ndarray:
    return _pick(h, np.array(options, dtype=StringDType()), shift)


def base_names(cls: str, ids: np.ndarray, seed: int, first: int) -> np.ndarray:
    """The name an id is born with (before namesakes), a pure function of (cls, id);
    ``first`` is the class's first id."""
    a, b = hash_ids(ids, seed, 11), hash_ids(ids, seed, 12)
    sp = np.array(" ", dtype=StringDType())
    if cls == "Person":
        return np.strings.add(np.strings.add(_word(a, 2), sp), _word(b, 3))
    if cls == "City":
        return np.strings.add(_word(a, 2), _choose(b, _CITY_END, 3))
    if cls == "Country":
        return np.strings.add(_word(a, 2), _choose(b, _COUNTRY_END, 3))
    if cls == "Organization":
        return np.strings.add(np.strings.add(_word(a, 3), sp), _choose(b, _ORG_KIND, 3))
    if cls == "Award":
        return np.strings.add(np.strings.add(_word(a, 3), sp), _choose(b, _AWARD_KIND, 3))
    if cls == "Genre":  # the k-th genre of the class is the k-th of the list
        return np.array(GENRES, dtype=StringDType())[(ids - first) % len(GENRES)]
    # Book, Film: three title patterns over English words and a made-up one
    adj, noun = _choose(b, _ADJ, 3), _choose(b, _NOUN, 13)
    word = _word(a, 2)
    the = np.array("The ", dtype=StringDType())
    p0 = np.strings.add(np.strings.add(np.strings.add(the, adj), " "), noun)
    p0 = np.strings.add(np.strings.add(p0, " of "), word)
    p1 = np.strings.add(np.strings.add(word, " and the "), noun)
    p2 = np.strings.add(np.strings.add(np.strings.add(adj, " "), noun), " of ")
    p2 = np.strings.add(p2, word)
    which = (b >> np.uint64(30)) % np.uint64(3)
    salt = 0 if cls == "Book" else 1  # films and books draw different titles
    which = (which + np.uint64(salt)) % np.uint64(3)
    return np.where(which == 0, p0, np.where(which == 1, p1, p2))
