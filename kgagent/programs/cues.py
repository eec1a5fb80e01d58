"""What a question's words say about the operation it asks for: a count, a yes/no, an
order (earliest, longer), numbers that constrain a value ("in 1993", "before 1990").

Everything here is knowledge of English, never of a dataset, kept as small word tables:
which words open a yes/no question, which ask for a number of things, which order things
and in which direction, which words before a number say how a value compares to it.
Which relation a cue is about (release year, rating, running time) is decided elsewhere,
from the graph's values and the relations' phrasing
(:class:`~kgagent.programs.propose.ProgramProposer`).

Every cue carries its character span, so the proposer can drop the cues that lie inside
an entity's mention ("Before Sunrise", "Apollo 13").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

__all__ = [
    "AUXILIARIES",
    "COUNT_PHRASES",
    "JOINING_WORDS",
    "ORDER_WORDS",
    "VALUE_OPS",
    "WEAK_ORDER_WORDS",
    "Cues",
    "NumberCue",
    "OrderCue",
    "Token",
    "read_cues",
]

#: auxiliary verbs that open a yes/no question ("Did X direct Y?", "Is A older than B?");
#: followed by "you" they open a request instead ("Could you list ...")
AUXILIARIES = frozenset(
    ["did", "does", "do", "is", "was", "are", "were", "has", "have", "had", "can", "could",
     "will"]
)  # fmt: skip
#: phrases that ask for a number of things
COUNT_PHRASES: tuple[tuple[str, ...], ...] = (("how", "many"), ("number", "of"), ("count",))
#: words that order things by a value: (direction, temporal). Temporal words order by
#: time (a date, a year), so the proposer prefers relations whose values are temporal;
#: "older" / "oldest" is the smaller date, "younger" the larger.
ORDER_WORDS: dict[str, tuple[str, bool]] = {
    **dict.fromkeys(["first", "earliest", "earlier", "oldest", "older", "before"], ("min", True)),
    **dict.fromkeys(
        ["last", "latest", "later", "newest", "newer", "youngest", "younger", "recent",
         "after"],
        ("max", True),
    ),
    **dict.fromkeys(
        ["lowest", "lower", "smallest", "smaller", "shortest", "shorter", "fewest", "worst",
         "worse", "cheapest", "cheaper", "minimum", "least", "less"],
        ("min", False),
    ),
    **dict.fromkeys(
        ["highest", "higher", "largest", "larger", "biggest", "bigger", "longest", "longer",
         "best", "better", "greatest", "greater", "tallest", "taller", "maximum", "most",
         "more"],
        ("max", False),
    ),
}  # fmt: skip
#: order words that only intensify another ("most recent", "less popular"): used only
#: when the question has no other order word
WEAK_ORDER_WORDS = frozenset(["most", "more", "least", "less"])
#: words before a number that say how an answer's value compares to it; "between A and
#: B" is read apart (>= A and <= B)
VALUE_OPS: dict[tuple[str, ...], str] = {
    ("in",): "=",
    ("from",): "=",
    ("during",): "=",
    ("of",): "=",
    ("before",): "<",
    ("after",): ">",
    ("since",): ">=",
    ("until",): "<=",
    ("till",): "<=",
    ("over",): ">",
    ("above",): ">",
    ("under",): "<",
    ("below",): "<",
    ("prior", "to"): "<",
    ("earlier", "than"): "<",
    ("later", "than"): ">",
    ("more", "than"): ">",
    ("greater", "than"): ">",
    ("higher", "than"): ">",
    ("less", "than"): "<",
    ("fewer", "than"): "<",
    ("lower", "than"): "<",
    ("at", "least"): ">=",
    ("at", "most"): "<=",
}
#: what may stand between two entities compared side by side ("A or B", "A and B")
JOINING_WORDS = frozenset(["or", "and", "vs", "versus"])

_TOKEN = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|[a-z]+")
_DECADE = re.compile(r"(\d{3})0s")
_YEARS = (1000, 2100)  # a whole number in this range may be a year


@dataclass(frozen=True)
class Token:
    """One word or number of the question (lower-cased) and its character span."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class OrderCue:
    """An order word: "min" (earliest, shorter) or "max", and whether it is temporal."""

    word: str
    direction: str
    temporal: bool
    start: int
    end: int


@dataclass(frozen=True)
class NumberCue:
    """A number or date of the question and how an answer's value compares to it.

    Attributes:
        value: the number as the program writes it ("1993", "7.5", "1994-05-01").
        op: one of ``=``, ``<``, ``<=``, ``>``, ``>=``.
        cue: the words that said so ("in 1993", "before 1990").
        start, end: the number's span (the words before it are not part of it).
        year_like: a whole number that may be a year, or a date.
    """

    value: str
    op: str
    cue: str
    start: int
    end: int
    year_like: bool


@dataclass(frozen=True)
class Cues:
    """The typed cues of one question (see the module docstring).

    Attributes:
        tokens: the question's words and numbers, in order.
        yes_no: the auxiliary that opens a yes/no question (None: not one).
        count: the words that ask for a count (None: none).
        count_span: their span.
        order: the order word (None: none).
        numbers: numbers that may constrain a value, in order.
        number_words: positions in ``tokens`` of the words that compare a number.
    """

    tokens: tuple[Token, ...]
    yes_no: str | None = None
    count: str | None = None
    count_span: tuple[int, int] | None = None
    order: OrderCue | None = None
    numbers: tuple[NumberCue, ...] = ()
    number_words: frozenset[int] = frozenset()

    def outside(self, spans: Sequence[tuple[int, int]]) -> Cues:
        """These cues without the ones inside ``spans`` (entity mentions: "The Last
        Emperor" orders nothing, "Apollo 13" is no year)."""

        def free(start: int, end: int) -> bool:
            return all(end <= a or start >= b for a, b in spans)

        order = _order(self.tokens, spans, self.number_words) if self.order else None
        count = self.count if self.count_span and free(*self.count_span) else None
        first = self.tokens[0] if self.tokens else None
        yes_no = self.yes_no if first and free(first.start, first.end) else None
        return replace(
            self,
            yes_no=yes_no,
            count=count,
            count_span=self.count_span if count else None,
            order=order,
            numbers=tuple(n for n in self.numbers if free(n.start, n.end)),
        )

    def spans(self) -> list[tuple[int, int]]:
        """The spans of the cue words: the count phrase, order words, the auxiliary."""
        out = [self.count_span] if self.count_span else []
        out += [(t.start, t.end) for t in self.tokens if _order_word(t.text)]
        if self.yes_no:
            out.append((self.tokens[0].start, self.tokens[0].end))
        return out

    def between(self, a: tuple[int, int], b: tuple[int, int]) -> list[str]:
        """The words strictly between two spans (in question order)."""
        lo, hi = (a[1], b[0]) if a[0] <= b[0] else (b[1], a[0])
        return [t.text for t in self.tokens if t.start >= lo and t.end <= hi]


def read_cues(question: str) -> Cues:
    """The cues of ``question`` (any text; an empty one has none)."""
    text = question.lower()
    tokens = tuple(Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text))
    words = [t.text for t in tokens]
    yes_no = words[0] if words and words[0] in AUXILIARIES else None
    if yes_no and words[1:2] == ["you"]:  # "can you name ...": a request, not a yes / no
        yes_no = None
    if yes_no and any(w == "or" and words[i + 1 : i + 2] != ["not"] for i, w in enumerate(words)):
        yes_no = None  # "is X's heir a man or a woman": it asks which, not whether
    count, count_span = _count(tokens)
    numbers, taken = _numbers(tokens, text)
    return Cues(
        tokens=tokens,
        yes_no=yes_no,
        count=count,
        count_span=count_span,
        order=_order(tokens, (), taken),
        numbers=numbers,
        number_words=taken,
    )


def _count(tokens: Sequence[Token]) -> tuple[str | None, tuple[int, int] | None]:
    words = [t.text for t in tokens]
    for phrase in COUNT_PHRASES:
        for i in range(len(words) - len(phrase) + 1):
            if tuple(words[i : i + len(phrase)]) == phrase:
                return " ".join(phrase), (tokens[i].start, tokens[i + len(phrase) - 1].end)
    return None, None


def _order(
    tokens: Sequence[Token], spans: Sequence[tuple[int, int]], taken: frozenset[int]
) -> OrderCue | None:
    """The first strong order word outside ``spans`` (else the first weak one); the
    words ``taken`` compare a number ("before 1990", "more than 5"), they order nothing."""
    found: list[OrderCue] = []
    for i, t in enumerate(tokens):
        word = _order_word(t.text)
        if word is None or i in taken:
            continue
        if any(not (t.end <= a or t.start >= b) for a, b in spans):
            continue
        direction, temporal = ORDER_WORDS[word]
        found.append(OrderCue(t.text, direction, temporal, t.start, t.end))
    strong = [o for o in found if o.word not in WEAK_ORDER_WORDS]  # "most recent": "recent"
    return (strong or found or [None])[0]


def _order_word(word: str) -> str | None:
    """The order word ``word`` is, or whose adverb it is ("recently" -> "recent")."""
    if word in ORDER_WORDS:
        return word
    if word.endswith("ly") and word[:-2] in ORDER_WORDS:
        return word[:-2]
    return None


def _numbers(tokens: Sequence[Token], text: str) -> tuple[tuple[NumberCue, ...], frozenset[int]]:
    """Numbers and dates, each with the comparison the words before it say ("=" when
    none does: "the 1993 films"); "between A and B" and decades ("the 1990s") give two.
    Also the positions of the words that said a comparison."""
    out: list[NumberCue] = []
    taken: set[int] = set()
    words = [t.text for t in tokens]
    for i, t in enumerate(tokens):
        if not t.text[0].isdigit():
            continue
        value = t.text.replace(",", "")
        decade = _DECADE.fullmatch(text[t.start : t.end + 1])
        if decade is not None:
            span = (t.start, t.end + 1)
            out.append(NumberCue(f"{decade[1]}0", ">=", f"the {decade[0]}", *span, True))
            out.append(NumberCue(f"{decade[1]}9", "<=", f"the {decade[0]}", *span, True))
            continue
        if i >= 3 and words[i - 1] == "and" and words[i - 3] == "between" and out:
            low = out[-1]
            if low.end == tokens[i - 2].end:  # between <low> and <this>
                cue = f"between {low.value} and {t.text}"
                out[-1] = replace(low, op=">=", cue=cue)
                out.append(_cue(value, "<=", cue, t))
                taken |= {i - 3, i - 1}
                continue
        op, said = "=", ()
        for phrase, phrase_op in VALUE_OPS.items():
            k = len(phrase)
            if i >= k and tuple(words[i - k : i]) == phrase and k >= len(said):
                op, said = phrase_op, phrase
        cue = _cue(value, op, " ".join([*said, t.text]), t)
        if not said and not cue.year_like:  # a bare number constrains only as a year or
            continue  # date ("the 1993 films"); "31" left by a stray escape code does not
        taken |= set(range(i - len(said), i))
        out.append(cue)
    return tuple(out), frozenset(taken)


def _cue(value: str, op: str, cue: str, t: Token) -> NumberCue:
    year_like = "-" in value or ("." not in value and _YEARS[0] <= int(value) <= _YEARS[1])
    return NumberCue(value, op, cue, t.start, t.end, year_like)
