"""Issue 19, items 1, 3, 6, 7, 8 and parts of 11 and 13: the store and the CLI.

Each test failed before its fix: nested DOCTYPE entities expanded into a 10^9-character
literal (16.8 s, 3.1 GB); ``SERVICE`` made the embedded store POST to any URL; the
README's binding examples found nothing (labels are ``@en``); a reader locked out every
other reader; labels reached the terminal raw (a retitled window, a forged citation);
and several bad inputs ended in a traceback or an error without a line.
"""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from rdflib import Literal, URIRef
from typer.testing import CliRunner

from kgagent.agents import Agent
from kgagent.cli import app
from kgagent.cli._output import json_text, printable
from kgagent.config import AgentConfig, KGConfig, LLMConfig, RetrievalConfig
from kgagent.errors import ConfigError, KGLoadError, QueryError, StoreError
from kgagent.kg.graph import KnowledgeGraph
from kgagent.workspace import init_workspace, open_kg, read_config

EX = "http://example.org/film#"
D = "http://example.org/data/"
ROOT = Path(__file__).resolve().parents[2]
QUICK = AgentConfig(retrieval=RetrievalConfig(encoder="hashing"), llm=LLMConfig(backend="none"))
runner = CliRunner()


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args])


# -- item 1: entity expansion in RDF/XML ----------------------------------------------------


def laughs(levels: int, *, use: bool = True) -> str:
    """The review's file: ``a`` is 100 characters, each next entity ten of the previous."""
    names = "abcdefghij"
    decls = [f'<!ENTITY a "{"x" * 100}">']
    decls += [f'<!ENTITY {names[i]} "{f"&{names[i - 1]};" * 10}">' for i in range(1, levels)]
    body = f"&{names[levels - 1]};" if use else "plain"
    return "\n".join(
        [
            '<?xml version="1.0"?>',
            "<!DOCTYPE rdf:RDF [",
            *decls,
            "]>",
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"',
            '         xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#">',
            '  <rdf:Description rdf:about="http://example.org/data/x">',
            f"    <rdfs:label>{body}</rdfs:label>",
            "  </rdf:Description>",
            "</rdf:RDF>",
            "",
        ]
    )


@pytest.fixture
def loaded(data_dir):
    kg = KnowledgeGraph()
    kg.load(data_dir / "tiny.ttl")
    yield kg
    kg.close()


@pytest.mark.parametrize("use", [True, False], ids=["referenced", "declared-only"])
def test_nested_entities_are_refused_before_they_expand(loaded, tmp_path, use):
    # 6 levels: a 10^7-character entity (before: loaded in 0.05 s, 86 MB); the review's 8
    # levels run in a subprocess below. Oxigraph expands entities at their declaration,
    # so declaring them is enough.
    path = tmp_path / "laughs.rdf"
    path.write_text(laughs(6, use=use))
    n = len(loaded)
    t0 = time.perf_counter()
    with pytest.raises(KGLoadError, match="entity &d; expands to more than") as err:
        loaded.load(path)
    assert time.perf_counter() - t0 < 2
    assert err.value.path == str(path.resolve()) and err.value.line == 6  # <!ENTITY d
    assert len(loaded) == n and [s.name for s in loaded.sources()] == ["tiny.ttl"]


def test_the_review_billion_laughs_is_refused_in_bounded_memory(tmp_path):
    # The review's 1.2 KB file: 8 levels, a 10^9-character literal (before: 16.8 s, 3.1 GB
    # peak). Run in a child capped at 1.5 GB of address space and 60 s, so that before the
    # fix this test failed fast instead of eating the machine.
    path = tmp_path / "laughs8.rdf"
    path.write_text(laughs(8))
    code = textwrap.dedent(f"""\
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
        from kgagent.errors import KGLoadError
        from kgagent.kg.graph import KnowledgeGraph
        try:
            KnowledgeGraph().load({str(path)!r})
        except KGLoadError as exc:
            print("refused:", exc)
        # VmHWM: this process's own peak (ru_maxrss would count the parent's, from fork)
        hwm = next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:"))
        print("peak MB:", int(hwm.split()[1]) // 1024)
        """)
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "refused:" in out.stdout and "entity-expansion" in out.stdout
    assert time.perf_counter() - t0 < 30
    peak_mb = int(out.stdout.rsplit("peak MB:", 1)[1])
    assert peak_mb < 400, out.stdout


def test_many_references_to_one_entity_are_refused(loaded, tmp_path):
    # every entity small enough, but 1,001 references to a 60,000-character one
    path = tmp_path / "wide.rdf"
    path.write_text(
        laughs(1)
        .replace('"' + "x" * 100 + '"', '"' + "x" * 60_000 + '"')
        .replace("<rdfs:label>&a;", "<rdfs:label>" + "&a;" * 1000)
    )
    with pytest.raises(KGLoadError, match="would expand to 60,060,000 characters"):
        loaded.load(path)
    assert len(loaded) == 54


def test_gzipped_rdfxml_is_checked_too(loaded, tmp_path):
    import gzip

    path = tmp_path / "laughs.rdf.gz"
    path.write_bytes(gzip.compress(laughs(6).encode()))
    with pytest.raises(KGLoadError, match="expands to more than"):
        loaded.load(path)


def test_namespace_entities_as_protege_writes_them_still_load(hostile_dir):
    with KnowledgeGraph() as kg:
        assert kg.load(hostile_dir / "store_ns_entities.rdf").triples == 4
        labels = {str(r.l) for r in kg.query(f"SELECT ?l WHERE {{ <{EX}Director> rdfs:label ?l }}")}
        assert labels == {"director & maker"}


@pytest.mark.parametrize(
    ("name", "what"),
    [("store_param_entity.rdf", "parameter entity"), ("store_external_entity.rdf", "external")],
)
def test_parameter_and_external_entities_are_refused(loaded, hostile_dir, name, what):
    with pytest.raises(KGLoadError, match=what) as err:
        loaded.load(hostile_dir / name)
    assert err.value.line == 3
    assert len(loaded) == 54


# -- item 3: SERVICE and LOAD ---------------------------------------------------------------


class Recorder(http.server.ThreadingHTTPServer):
    """A loopback SPARQL endpoint that records every request it gets."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                recorder.hits.append(f"{self.command} {self.path}")
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.dumps(
                    {
                        "head": {"vars": ["s"]},
                        "results": {"bindings": [{"s": {"type": "uri", "value": "urn:x:remote"}}]},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/sparql-results+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/sparql"


@pytest.fixture
def endpoint():
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def ws(tmp_path, data_dir):
    root = init_workspace(tmp_path / "ws", config=QUICK)
    with open_kg(root) as kg:
        kg.load(data_dir / "tiny.ttl")
    return root


def test_service_is_refused_by_default_and_never_sent(loaded, endpoint, ws):
    q = f"SELECT ?s WHERE {{ SERVICE <{endpoint.url}> {{ ?s ?p ?o }} }}"
    with pytest.raises(QueryError, match="SERVICE is off"):
        loaded.query(q)
    r = cli("query", ws, q)
    assert r.exit_code == 1 and "SERVICE is off" in r.output and "--allow-service" in r.output
    assert endpoint.hits == []


@pytest.mark.parametrize(
    "query",
    [
        "SELECT ?s WHERE { service <URL> { ?s ?p ?o } }",
        "SELECT ?s WHERE { [ ex:p ex:o ]SERVICE <URL> { ?s ?p ?o } }",
        "SELECT ?s WHERE { ?s ?p 'x'@en SERVICE <URL> { ?s ?p ?o } }",
        "SELECT ?s WHERE { ?s ?p 1.5 SERVICE SILENT <URL> { ?s ?p ?o } }",
        "SELECT ?s WHERE { \\u0053ERVICE <URL> { ?s ?p ?o } }",
        "SELECT ?s WHERE { # a comment\n SERVICE <URL> { ?s ?p ?o } }",
    ],
)
def test_service_is_found_however_it_is_written(loaded, endpoint, query):
    with pytest.raises(QueryError, match="SERVICE is off"):
        loaded.query(query.replace("URL", endpoint.url), prefixes={"ex": EX})
    assert endpoint.hits == []


def test_service_in_a_comment_string_or_name_is_not_a_service_call(loaded, endpoint):
    q = (
        f"SELECT ?f WHERE {{ # SERVICE <{endpoint.url}> {{ }}\n"
        f"  ?f rdfs:comment ?c . FILTER(?c != 'SERVICE <{endpoint.url}> {{ ?s ?p ?o }}')"
        "  OPTIONAL { ?f ex:SERVICE ?x } }"
    )
    rows = loaded.query(q, prefixes={"ex": EX})
    assert {str(r.f) for r in rows} == {EX + "Film", D + "interstellar"}
    assert endpoint.hits == []


def test_service_opt_in_per_call_on_the_cli_and_in_the_config(loaded, endpoint, ws):
    q = f"SELECT ?s WHERE {{ SERVICE <{endpoint.url}> {{ ?s ?p ?o }} }}"
    assert [str(r.s) for r in loaded.query(q, allow_service=True)] == ["urn:x:remote"]
    assert len(endpoint.hits) == 1
    r = cli("query", ws, q, "--allow-service")
    assert r.exit_code == 0 and "urn:x:remote" in r.output
    (ws / "kgagent.yaml").write_text(
        (ws / "kgagent.yaml").read_text().replace("allow_service: false", "allow_service: true")
    )
    assert read_config(ws).kg.allow_service
    r = cli("query", ws, q)
    assert r.exit_code == 0 and "urn:x:remote" in r.output
    assert len(endpoint.hits) == 3


def test_a_failed_service_is_a_query_error(loaded):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    q = f"SELECT ?s WHERE {{ SERVICE <http://127.0.0.1:{port}/sparql> {{ ?s ?p ?o }} }}"
    with pytest.raises(QueryError, match="SERVICE"):
        loaded.query(q, allow_service=True)


def test_load_in_an_update_is_refused_by_default(loaded, endpoint, ws):
    with pytest.raises(QueryError, match="LOAD is off"):
        loaded.update(f"LOAD <{endpoint.url}>")
    r = cli("update", ws, f"LOAD <{endpoint.url}>")
    assert r.exit_code == 1 and "LOAD is off" in r.output
    assert endpoint.hits == [] and len(loaded) == 54


# -- item 6: bindings as the docs write them -------------------------------------------------


def test_a_plain_string_binding_matches_a_language_tagged_label(loaded):
    # the docs' quickstart: bindings={"name": "Christopher Nolan"}; the label is @en
    rows = loaded.query(
        "SELECT ?film WHERE { ?film ex:directedBy ?d . ?d rdfs:label ?name }",
        bindings={"name": "Christopher Nolan"},
        prefixes={"ex": EX},
    )
    assert {str(r.film) for r in rows} == {D + "inception", D + "interstellar"}
    # the row carries the graph's own term; an exact Literal still matches exactly
    [row] = loaded.query("SELECT ?l WHERE { ?s rdfs:label ?l }", bindings={"l": "Inception"})
    assert row.l == Literal("Inception", lang="en")
    assert not list(
        loaded.query("SELECT ?s WHERE { ?s rdfs:label ?l }", bindings={"l": Literal("Inception")})
    )
    # a string used as a value, not matched in a pattern, is still that value
    rows = loaded.query(
        "SELECT ?s WHERE { ?s rdfs:label ?l FILTER(CONTAINS(?l, ?needle)) }",
        bindings={"needle": "Nolan"},
    )
    assert [str(r.s) for r in rows] == [D + "nolan"]


def test_a_plain_string_binding_stays_one_literal(loaded):
    evil = 'Inception"@en . ?s ?p ?o } #'
    assert not list(loaded.query("SELECT ?s WHERE { ?s rdfs:label ?l }", bindings={"l": evil}))


def test_cli_binds_plain_tagged_typed_and_iri_values(ws):
    base = ["query", ws, "--format", "csv"]
    r = cli(*base, "SELECT ?s WHERE { ?s rdfs:label ?l }", "--bind", "l=Inception")
    assert r.output.split() == ["s", D + "inception"]
    r = cli(*base, "SELECT ?s WHERE { ?s rdfs:label ?l }", "--bind", 'l="Inception"@en')
    assert r.output.split() == ["s", D + "inception"]
    r = cli(*base, "SELECT ?s WHERE { ?s rdfs:label ?l }", "--bind", 'l="Inception"@fr')
    assert r.output.split() == ["s"]
    year = f"SELECT ?f WHERE {{ ?f <{EX}releaseYear> ?y }}"
    r = cli(*base, year, "--bind", 'y="2010"^^xsd:integer')
    assert r.output.split() == ["f", D + "inception"]
    r = cli(*base, "SELECT ?l WHERE { ?s rdfs:label ?l }", "--bind", f"s=<{D}titanic>")
    assert r.output.split() == ["l", "Titanic"]
    r = cli(*base, "SELECT ?s WHERE { ?s rdfs:label ?l }", "--bind", "l=<not an iri>")
    assert r.exit_code == 1 and "--bind l" in r.output


def test_cli_repeated_bind_is_a_list_of_rows_not_the_last_value(ws):
    r = cli(
        "query", ws, "SELECT ?l WHERE { ?s rdfs:label ?l } ORDER BY ?l", "--format", "csv",
        "--bind", "l=Inception", "--bind", "l=Titanic",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert r.output.split() == ["l", "Inception", "Titanic"]


# -- item 7: readers beside readers and writers ---------------------------------------------


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, data_dir, hostile_dir):
    """A workspace with the hostile labels, indexed (read by the tests, never written)."""
    root = init_workspace(tmp_path_factory.mktemp("store_cli") / "indexed", config=QUICK)
    with Agent.open(root) as agent:
        agent.kg.load(data_dir / "tiny.ttl")
        agent.kg.load(hostile_dir / "store_labels.ttl")
        agent.index()
    return root


def test_read_commands_run_while_another_process_holds_the_store(indexed):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from kgagent.kg.graph import KnowledgeGraph; "
            f"kg = KnowledgeGraph.open({str(indexed)!r}); print('open', flush=True); "
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        for args in (
            ["query", indexed, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"],
            ["info", indexed],
            ["sources", indexed],
            ["retrieve", indexed, "who directed Inception"],
            ["ask", indexed, "who directed Inception?"],
        ):
            r = cli(*args)
            assert r.exit_code == 0, (args[0], r.output)
        r = cli("update", indexed, "INSERT DATA { <urn:x:a> <urn:x:b> <urn:x:c> }")
        assert r.exit_code == 1 and "another process has it open for writing" in r.output
    finally:
        holder.communicate("", timeout=30)


def test_opening_a_store_twice_in_one_process_says_so(ws):
    with open_kg(ws) as kg, pytest.raises(StoreError, match="this process has it open"):
        open_kg(ws)
    with open_kg(ws) as kg, open_kg(ws, read_only=True) as reader:
        assert len(reader) == len(kg) == 54


# -- item 8: what the CLI prints from the graph ---------------------------------------------

RAW = ("\x1b", "\x07", "\u202e", "\x7f", "\x9b")


def _clean(text: str) -> None:
    assert not [c for c in RAW if c in text], repr(text)


def test_ask_output_escapes_labels_and_cannot_forge_a_citation(indexed):
    r = cli("ask", indexed, "what films did Christopher Nolan direct?")
    assert r.exit_code == 0, r.output
    _clean(r.output)
    lines = r.output.splitlines()
    cited = [ln for ln in lines if ln.startswith("  [")]
    assert [ln.split("]")[0] for ln in cited] == ["  [1", "  [2", "  [3"]
    assert len(lines) == 5  # the answer, three citations, the timing: no forged line
    assert "Evil\\x1b]0;pwned\\x07 Film" in r.output


def test_retrieve_output_escapes_labels_and_json_stays_exact(indexed, tmp_path):
    r = cli("retrieve", indexed, "who directed Evil Film", "-k", "2")
    assert r.exit_code == 0, r.output
    _clean(r.output)
    assert len(r.output.splitlines()) == 4  # entities, two facts, timing
    out = tmp_path / "ev.jsonl"
    r = cli("retrieve", indexed, "who directed Evil Film", "-k", "2", "--out", out)
    text = out.read_text("utf-8")
    _clean(text)
    label = json.loads(text)["entities"][0]["label"]
    assert "\x1b]0;pwned\x07" in label and "\u202e" in label  # the value is exact


@pytest.mark.parametrize("fmt", ["table", "csv", "tsv", "json"])
def test_query_output_escapes_every_format(indexed, fmt, monkeypatch):
    q = f"SELECT ?l WHERE {{ <{D}evil> rdfs:label ?l }}"
    r = cli("query", indexed, q, "--format", fmt)
    assert r.exit_code == 0, r.output
    _clean(r.output)
    if fmt == "json":
        [row] = json.loads(r.output)["results"]["bindings"]
        assert row["l"]["value"].startswith("Evil\x1b]0;pwned\x07 Film\n")
    elif fmt == "table":
        assert len(r.output.splitlines()) == 4  # header, rule, one row, count
    # on a terminal, even a CSV field's quoted newline is escaped
    monkeypatch.setattr("kgagent.cli.kg.to_terminal", lambda: True)
    r = cli("query", indexed, q, "--format", fmt)
    _clean(r.output)
    if fmt != "json":
        assert "forged" in r.output and not any(
            ln.lstrip().startswith("[9]") for ln in r.output.splitlines()
        )


def test_info_sources_and_json_info_escape_labels(indexed):
    for args in (["info", indexed], ["info", indexed, "--json"], ["sources", indexed]):
        r = cli(*args)
        assert r.exit_code == 0, r.output
        _clean(r.output)
    assert "cursed\\x1b[2J\\nclass\\u202e" in cli("info", indexed).output
    classes = json.loads(cli("info", indexed, "--json").output)["classes"]["items"]
    assert "cursed\x1b[2J\nclass\u202e" in [c["label"] for c in classes]


def test_printable_and_json_text():
    text = "a\x1b[2Jb\nc\r\td\x7f\x9b\u202e\u2028é"
    assert printable(text) == "a\\x1b[2Jb\\nc\\r\\td\\x7f\\x9b\\u202e\\u2028é"
    assert printable("line one\nline two", keep="\n") == "line one\nline two"
    for indent in (None, 2):
        dumped = json_text({"k": text}, indent=indent)
        assert json.loads(dumped) == {"k": text}
        _clean(dumped)
        assert "\u2028" not in dumped and "é" in dumped


# -- item 11 (part): tracebacks become errors naming the file or field ----------------------


def test_a_missing_or_undecodable_query_file_is_named(ws, tmp_path):
    r = cli("query", ws, f"@{tmp_path / 'missing.rq'}")
    assert r.exit_code == 1 and "missing.rq: no such file" in r.output
    bad = tmp_path / "bad.rq"
    bad.write_bytes(b"SELECT ?s\nWHERE { ?s ?p '\xff' }")
    r = cli("query", ws, f"@{bad}")
    assert r.exit_code == 1 and "bad.rq:2: not UTF-8" in r.output


def test_init_on_a_file_is_an_error(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    r = cli("init", f)
    assert r.exit_code == 1 and "afile: exists and is not a directory" in r.output


def test_a_non_utf8_config_names_file_and_line(ws):
    (ws / "kgagent.yaml").write_bytes(b"version: 1\nname: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"kgagent.yaml:2:10: not UTF-8"):
        read_config(ws)
    r = cli("sources", ws)
    assert r.exit_code == 1 and "kgagent.yaml:2:10: not UTF-8" in r.output


def test_an_unknown_config_version_is_refused_naming_the_field(ws):
    text = (ws / "kgagent.yaml").read_text()
    (ws / "kgagent.yaml").write_text(text.replace("version: 1", "version: 99"))
    with pytest.raises(ConfigError, match=r"version: version 99 is not supported.*version 1"):
        read_config(ws)
    assert AgentConfig().version == 1 and KGConfig().allow_service is False


# -- item 13 (part): errors that say where and what -----------------------------------------


def test_rdfxml_in_a_ttl_file_is_called_rdfxml(loaded, hostile_dir):
    with pytest.raises(KGLoadError, match="the content looks like RDF/XML, not Turtle"):
        loaded.load(hostile_dir / "store_rdfxml.ttl")
    assert loaded.load(hostile_dir / "store_rdfxml.ttl", format="xml").triples == 1


def test_a_non_utf8_delimited_file_gives_the_line(loaded, hostile_dir):
    with pytest.raises(KGLoadError, match="not UTF-8") as err:
        loaded.load_triples(hostile_dir / "store_not_utf8.txt")
    assert (err.value.line, err.value.column) == (3, 4)
    assert len(loaded) == 54


def test_an_rdfxml_doctype_error_gives_the_line(loaded, hostile_dir):
    with pytest.raises(KGLoadError, match="ENTITY") as err:
        loaded.load(hostile_dir / "store_doctype_quote.rdf")
    assert err.value.line == 4


@pytest.mark.parametrize(
    ("query", "at"),
    [
        ("SELECT ?s WHERE { ?s ?p ?o . FILTER(?x = ) }", "1:45"),
        ("SELECT ?s\nWHERE {\n  ?s ?p ?o .\n  FILTER(?x = )\n}", "5:2"),
    ],
)
def test_sparql_error_positions_are_in_the_users_text(loaded, ws, query, at):
    import pyoxigraph as ox

    with pytest.raises(SyntaxError, match=f"error at {at}:"):  # Oxigraph on the text alone
        ox.Store().query(query)
    for bindings in (None, {"s": URIRef(D + "x")}, {"o": "x"}):
        with pytest.raises(QueryError, match=f"error at {at}:"):
            loaded.query(query, bindings=bindings)
    r = cli("query", ws, query)
    assert r.exit_code == 1 and f"error at {at}:" in r.output


def test_update_command_is_transactional_and_takes_bindings(ws):
    r = cli("query", ws, "INSERT DATA { <urn:x:a> <urn:x:b> 'c' }")
    assert r.exit_code == 1 and "kgagent update" in r.output
    r = cli("update", ws, "INSERT DATA { <urn:x:a> <urn:x:b> 'c' }")
    assert r.exit_code == 0 and "+1 triples" in r.output
    # the second part fails: the first is not applied either
    r = cli(
        "update", ws,
        "INSERT DATA { <urn:x:a> <urn:x:b> 'd' } ; CREATE GRAPH <urn:x:g> ; CREATE GRAPH <urn:x:g>",
    )  # fmt: skip
    assert r.exit_code == 1 and "already exists" in r.output
    r = cli("update", ws, "DELETE { ?s <urn:x:b> ?o } WHERE { ?s <urn:x:b> ?o }", "--bind", "o=c")
    assert r.exit_code == 0 and "-1 triples" in r.output
    with open_kg(ws, read_only=True) as kg:
        assert len(kg) == 54
