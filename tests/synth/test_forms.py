"""The English the synthesizer needs, and templates read from relation labels' shapes."""

from __future__ import annotations

import pytest

from kgagent.synth import english as en
from kgagent.synth.forms import hop_forms, with_templates
from kgagent.synth.phrasing import render
from kgagent.synth.report import question_word


@pytest.mark.parametrize(
    ("word", "plural"),
    [("film", "films"), ("country of origin", "countries of origin"), ("person", "people"),
     ("genre", "genres"), ("starred actors", "starred actors"), ("class", "classes"),
     ("runtime (minutes)", "runtimes (minutes)")],
)  # fmt: skip
def test_plural_and_singular(word, plural):
    assert en.plural(word) == plural
    assert en.singular(plural) == (word if word != "starred actors" else "starred actor")


@pytest.mark.parametrize(
    ("participle", "base", "agent"),
    [("directed", "direct", "director"), ("written", "write", "writer"),
     ("produced", "produce", "producer"), ("created", "create", "creator"),
     ("starred", "star", None), ("edited", "edit", "editor"), ("founded", "found", "founder"),
     ("treated", "treat", None)],
)  # fmt: skip
def test_base_forms_and_agent_nouns(participle, base, agent):
    assert en.base_form(participle) == base
    if agent:
        assert en.agent_noun(base) == agent


def test_small_words():
    assert en.article("actor") == "an" and en.article("university") == "a"
    assert en.possessive("Inception") == "Inception's" and en.possessive("Jaws") == "Jaws'"
    assert en.lower_label("Film") == "film" and en.lower_label("US state") == "US state"
    assert en.event_participle("release") == "released"
    assert en.event_participle("founding") == "founded"
    assert en.event_participle("birth") is None
    assert en.is_person_noun("starred actors") and not en.is_person_noun("genre")
    assert en.value_kind(["1999", "2010"]) == "year"
    assert en.value_kind(["2010-07-16"]) == "date"
    assert en.value_kind(["8.8", "7"]) == "number"
    assert en.value_kind(["good", "2010"]) == "thing"


def _say(label, *, inverse, kind="thing", multi=False, x="X", plural=False):
    """Every template of a hop, filled with plain slot values."""
    f = hop_forms(label, inverse=inverse, kind=kind, multi=multi)
    fields = {"x": x, "wh": "WH", "whn": "which N", "whr": "which R", "whom": "WHOM",
              "rel": "that"}  # fmt: skip
    out = {}
    for cat in ("subj", "front", "echo", "objrel", "mod"):
        out[cat] = [
            render(t.lstrip("^"), plural_a=plural, plural_x=False, fields=fields)
            for t in getattr(f, cat)
        ]
    return f, out


@pytest.mark.parametrize(
    ("label", "inverse", "expected"),
    [
        ("directed by", False, {"subj": "WH directed X", "front": "by WHOM was X directed"}),
        ("directed by", True, {"subj": "WH was directed by X", "front": "WHOM did X direct",
                               "objrel": "X directed", "mod": "directed by X"}),
        ("written by", True, {"front": "WHOM did X write", "echo": "X wrote WHOM"}),
        ("has genre", False, {"front": "which R does X have"}),
        ("has genre", True, {"mod": "whose genre is X", "front": "WHOM is X the genre of"}),
        ("in language", False, {"front": "which N is X in"}),
        ("in language", True, {"subj": "WH is in X", "mod": "in X"}),
        ("based on", False, {"front": "WHOM is X based on", "objrel": "X is based on"}),
        ("acted in", True, {"subj": "WH acted in X"}),
        ("acted in", False, {"front": "WHOM did X act in"}),
        ("won award", False, {"front": "WHOM did X win", "mod": "won by X"}),
        ("starring", True, {"mod": "starring X"}),
        ("sequel of", False, {"front": "WHOM is X a sequel of"}),
        ("music by", True, {"subj": "WH has music by X", "mod": "with music by X"}),
        ("knows", True, {"subj": "WH knows X"}),
        ("release year", False, {"front": "when was X released"}),
        ("release year", True, {"subj": "WH was released in X", "mod": "released in X"}),
    ],
)  # fmt: skip
def test_label_shapes_give_grammatical_templates(label, inverse, expected):
    kind = "year" if "year" in label else "thing"
    _, said = _say(label, inverse=inverse, kind=kind)
    for cat, text in expected.items():
        assert text in said[cat], (cat, said[cat])


def test_roles_agree_and_keep_a_single_valued_plural():
    f, _ = _say("directed by", inverse=False)
    assert f.role == "director"
    f, said = _say("has tags", inverse=True, multi=True)
    assert "whose tags include X" in said["mod"]
    f, said = _say("has imdb votes", inverse=False, multi=False)
    assert f.role == "imdb votes" and f.fixed
    _, said = _say("has genre", inverse=True, plural=True)
    assert "WH have X as their genre" in said["subj"]


def test_verbalizer_templates_become_questions():
    f = hop_forms("appearing", inverse=True, kind="thing", multi=False)
    f = with_templates(f, "{subject} stars {object}", "{object} appears in {subject}",
                       inverse=True)  # fmt: skip
    fields = {"x": "X", "wh": "WH", "whom": "WHOM"}
    said = {render(t, plural_a=False, plural_x=False, fields=fields) for t in f.subj + f.echo}
    assert "WH stars X" in said and "X appears in WHOM" in said


def test_question_words():
    assert question_word("Who directed Inception?") == "who"
    assert question_word("Inception was directed by whom") == "who"
    assert question_word("list the films directed by X") == "imperative"
    assert question_word("the films directed by X") == "none"
    assert question_word("when was What Women Want released", "What Women Want") == "when"
