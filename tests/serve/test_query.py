"""/v1/query: read-only SPARQL. SELECT answers in SPARQL 1.1 JSON results, ASK a
boolean, CONSTRUCT N-Triples terms; bindings are joined in as terms, so text that looks
like SPARQL stays a literal; updates and SERVICE are refused and leave the graph as it
was; results are capped at --query-rows."""

from __future__ import annotations

import pytest

from tests.serve.conftest import make_client

E = "http://example.org/ent/"
R = "http://example.org/rel/"
XSD = "http://www.w3.org/2001/XMLSchema#"
JAWS_COUNT = f"SELECT (COUNT(*) AS ?n) WHERE {{ <{E}jaws> ?p ?o }}"


def _query(client, query: str, **bindings):
    return client.post("/v1/query", json={"query": query, "bindings": bindings})


def _values(r, var: str) -> list[str]:
    assert r.status_code == 200, r.text
    return sorted(row[var]["value"] for row in r.json()["results"]["bindings"])


def test_select_answers_sparql_json_results(client):
    r = _query(client, f"SELECT ?d ?l WHERE {{ <{E}jaws> <{R}directed_by> ?d . ?d rdfs:label ?l }}")
    assert r.json() == {
        "head": {"vars": ["d", "l"]},
        "results": {"bindings": [{"d": {"type": "uri", "value": E + "spielberg"},
                                  "l": {"type": "literal", "value": "Steven Spielberg"}}]},
    }  # fmt: skip
    typed = _query(client, f"SELECT ?r ?lang WHERE {{ <{E}jaws> <{R}rating> ?r ; "
                           f"<{R}language> ?lang }}").json()  # fmt: skip
    (row,) = typed["results"]["bindings"]
    assert row["r"] == {"type": "literal", "value": "8.1", "datatype": XSD + "decimal"}
    assert row["lang"] == {"type": "literal", "value": "English", "xml:lang": "en"}


def test_ask_and_construct(client):
    yes = _query(client, f"ASK {{ <{E}jaws> <{R}directed_by> <{E}spielberg> }}")
    assert yes.json() == {"head": {}, "boolean": True}
    no = _query(client, f"ASK {{ <{E}ronin> <{R}directed_by> <{E}spielberg> }}")
    assert no.json() == {"head": {}, "boolean": False}
    g = _query(client, f"CONSTRUCT {{ ?f <{R}directed_by> ?d }} WHERE {{ "
                       f"?f <{R}directed_by> ?d . FILTER(?f = <{E}ronin>) }}")  # fmt: skip
    assert g.json() == {"triples": [[f"<{E}ronin>", f"<{R}directed_by>", f"<{E}frankenheimer>"]]}


def test_bindings_are_terms(client):
    directed = f"SELECT ?d WHERE {{ ?f <{R}directed_by> ?d }}"
    assert _values(_query(client, directed, f={"iri": E + "ronin"}), "d") == [E + "frankenheimer"]
    by_label = "SELECT ?f WHERE { ?f rdfs:label ?l }"
    # a bare literal matches its text in any language or as xsd:string
    assert _values(_query(client, by_label, l={"literal": "Jaws"}), "f") == [E + "jaws"]
    lang = f"SELECT ?f WHERE {{ ?f <{R}language> ?l }}"
    assert _values(_query(client, lang, l={"literal": "English"}), "f") == [
        E + "jaws", E + "jurassic_park"]  # fmt: skip
    english = {"literal": "English", "lang": "en"}
    assert _values(_query(client, lang, l=english), "f") == [E + "jaws"]
    rated = f"SELECT ?f WHERE {{ ?f <{R}rating> ?r }}"
    decimal = {"literal": "8.1", "datatype": XSD + "decimal"}
    assert _values(_query(client, rated, r=decimal), "f") == [E + "jaws"]


@pytest.mark.parametrize(
    "hostile",
    [
        'Jaws" } UNION { ?f ?p ?o } #',
        'Jaws" . ?f ?p ?o . FILTER("a"="a',
        "Jaws\\u0022 } #",
        "Jaws'> } ; DROP ALL ; #",
    ],
)
def test_text_that_looks_like_sparql_stays_a_literal(client, hostile):
    r = _query(client, "SELECT ?f WHERE { ?f rdfs:label ?l }", l={"literal": hostile})
    assert _values(r, "f") == []  # one literal with that text: no film has it as a label
    drop = _query(client, "SELECT ?f WHERE { ?f rdfs:label ?l }", l={"literal": "x"})
    assert drop.status_code == 200
    assert _query(client, JAWS_COUNT).json()["results"]["bindings"][0]["n"]["value"] == "10"


def test_an_iri_binding_cannot_close_the_iri(client):
    r = _query(client, "SELECT ?p WHERE { ?s ?p ?o }", s={"iri": E + "jaws> ?p ?o } #"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "bindings['s']"


@pytest.mark.parametrize(
    "update",
    [
        f"INSERT DATA {{ <{E}jaws> <{R}directed_by> <{E}scorsese> }}",
        f"DELETE WHERE {{ <{E}jaws> ?p ?o }}",
        "DROP ALL",
        "CLEAR DEFAULT",
        f"PREFIX e: <{E}> DELETE {{ ?s ?p ?o }} WHERE {{ ?s ?p ?o }}",
        "LOAD <http://127.0.0.1:1/x.ttl>",
        f"SELECT * WHERE {{ ?s ?p ?o }} ; DELETE WHERE {{ <{E}jaws> ?p ?o }}",
    ],
)
def test_updates_are_refused_and_change_nothing(client, update):
    r = _query(client, update)
    assert r.status_code == 400 and r.json()["error"]["field"] == "query"
    assert _query(client, JAWS_COUNT).json()["results"]["bindings"][0]["n"]["value"] == "10"


def test_service_is_refused_whatever_the_workspace_allows(client):
    r = _query(client, "SELECT * WHERE { SERVICE <http://127.0.0.1:1/sparql> { ?s ?p ?o } }")
    assert r.status_code == 400 and "SERVICE" in r.json()["error"]["message"]


def test_rows_are_capped(agent):
    c = make_client(agent, query_rows=5)
    body = _query(c, "SELECT ?s ?p ?o WHERE { ?s ?p ?o }").json()
    assert len(body["results"]["bindings"]) == 5 and body["truncated"] is True
    small = _query(c, f"SELECT ?d WHERE {{ <{E}jaws> <{R}directed_by> ?d }}").json()
    assert "truncated" not in small
    g = _query(c, "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }").json()
    assert len(g["triples"]) == 5 and g["truncated"] is True
