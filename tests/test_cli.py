"""The kgagent command: init, load, info, query, sources, remove, reason, validate."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from kgagent.cli import app

runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    return result


def test_help_is_instant_because_imports_are_lazy():
    code = (
        "import sys, kgagent.cli, kgagent; "
        "heavy = [m for m in ('torch', 'pyoxigraph', 'rdflib', 'transformers', 'faiss') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_workflow(tmp_path, data_dir):
    ws = tmp_path / "ws"
    r = invoke("init", ws)
    assert r.exit_code == 0, r.output
    assert (ws / "kgagent.yaml").exists()

    r = invoke("load", ws, data_dir / "tiny.ttl", data_dir / "tiny_kb.txt")
    assert r.exit_code == 0, r.output
    assert "tiny.ttl: 54 triples" in r.output
    assert "tiny_kb.txt" in r.output

    r = invoke("info", ws)
    assert r.exit_code == 0, r.output
    assert "sources (2)" in r.output
    assert "directed by" in r.output and "film -> director" in r.output

    r = invoke("info", ws, "--json")
    data = json.loads(r.output)
    assert data["triples"] > 54
    assert {s["name"] for s in data["sources"]} == {"tiny.ttl", "tiny_kb.txt"}

    r = invoke(
        "query",
        ws,
        "SELECT ?l WHERE { ?f <http://example.org/film#directedBy> ?d . ?d rdfs:label ?l } "
        "ORDER BY ?l",
    )
    assert r.exit_code == 0, r.output
    assert "Christopher Nolan" in r.output and "(3 rows)" in r.output

    r = invoke(
        "query",
        ws,
        "SELECT ?s WHERE { ?s rdfs:label ?l }",
        "--bind",
        "l=Titanic",
        "--format",
        "csv",
    )
    # a plain string matches the label in any language: "Titanic"@en and "Titanic"
    lines = r.output.strip().splitlines()
    assert lines[0] == "s"
    assert sorted(lines[1:]) == [
        "http://example.org/data/titanic",
        "http://kgagent.local/kg/entity/Titanic",
    ]

    r = invoke("reason", ws)
    assert r.exit_code == 0 and "inferred" in r.output

    r = invoke("remove", ws, "tiny_kb.txt")
    assert r.exit_code == 0 and "removed tiny_kb.txt" in r.output
    r = invoke("sources", ws)
    assert "tiny_kb.txt" not in r.output and "tiny.ttl" in r.output


def test_load_error_exits_nonzero_and_names_the_line(tmp_path, data_dir):
    ws = tmp_path / "ws"
    invoke("init", ws)
    r = invoke("load", ws, data_dir / "bad" / "broken.ttl")
    assert r.exit_code == 1
    assert "broken.ttl:4:" in r.output


def test_validate_exit_code(tmp_path, data_dir):
    ws = tmp_path / "ws"
    invoke("init", ws)
    invoke("load", ws, data_dir / "tiny.ttl")
    shapes = tmp_path / "s.ttl"
    shapes.write_text(
        "@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix ex: <http://example.org/film#> .\n"
        "ex:S a sh:NodeShape ; sh:targetClass ex:Film ;\n"
        "  sh:property [ sh:path ex:directedBy ; sh:minCount 1 ] .\n"
    )
    r = invoke("validate", ws, shapes)
    assert r.exit_code == 0 and "conforms" in r.output


def test_not_a_workspace(tmp_path):
    r = invoke("info", tmp_path / "nowhere")
    assert r.exit_code == 1
    assert "not a kgagent workspace" in r.output


def test_index_and_retrieve(tmp_path, data_dir):
    from kgagent.config import AgentConfig, RetrievalConfig
    from kgagent.workspace import init_workspace

    ws = init_workspace(
        tmp_path / "ws", config=AgentConfig(retrieval=RetrievalConfig(encoder="hashing"))
    )
    invoke("load", ws, data_dir / "tiny_kb.txt")
    r = invoke("index", ws)
    assert r.exit_code == 0, r.output
    assert "11 facts indexed" in r.output
    r = invoke("retrieve", ws, "who directed [Titanic]", "-k", "3")
    assert r.exit_code == 0, r.output
    assert "[1] Titanic was directed by James Cameron" in r.output

    questions = tmp_path / "q.txt"
    questions.write_text(
        "who directed [Titanic]\tJames Cameron\nwhen was Inception released\t2010\n"
    )
    out = tmp_path / "out.jsonl"
    r = invoke("retrieve", ws, "--questions", questions, "-k", "2", "--out", out)
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["question"] for row in rows] == [
        "who directed [Titanic]",
        "when was Inception released",
    ]
    first = rows[0]["facts"][0]
    assert set(first) == {"id", "subject_label", "predicate_label", "object_label", "text", "score"}
    assert first["object_label"] == "James Cameron"
    assert rows[1]["facts"][0]["text"] == "The release year of Inception is 2010"


def test_ask_synth_and_eval(tmp_path, data_dir):
    """The QA commands end to end (reader without an LLM: retrieval's best candidate)."""
    from kgagent.config import AgentConfig, LLMConfig, RetrievalConfig
    from kgagent.workspace import init_workspace

    cfg = AgentConfig(retrieval=RetrievalConfig(encoder="hashing"), llm=LLMConfig(backend="none"))
    ws = init_workspace(tmp_path / "ws", config=cfg)
    invoke("load", ws, data_dir / "tiny_kb.txt")
    assert invoke("index", ws).exit_code == 0
    r = invoke("ask", ws, "who directed [Titanic]")
    assert r.exit_code == 0, r.output
    assert "James Cameron [1]" in r.output
    assert "[1] Titanic was directed by James Cameron" in r.output

    questions = tmp_path / "q.txt"
    questions.write_text(
        "who directed [Titanic]\tJames Cameron\nwhat is the capital of Peru\tLima\n"
    )
    out = tmp_path / "pred.jsonl"
    r = invoke("ask", ws, "--questions", questions, "--out", out)
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert set(rows[0]) >= {"question", "answers", "answer_iris", "text", "facts", "confidence",
                            "latency_ms"}  # fmt: skip
    assert rows[0]["answers"] == ["James Cameron"]
    assert rows[0]["facts"][0]["text"] == "Titanic was directed by James Cameron"
    assert rows[1]["answers"] == [] and rows[1]["abstained"]

    r = invoke("eval", ws, "--questions", questions)
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["questions"] == 2 and report["hits_at_1"] == 0.5
    assert report["abstention_rate"] == 0.5 and report["latency_p50_ms"] > 0

    synth = tmp_path / "synth.jsonl"
    r = invoke("synth", ws, "--out", synth, "-n", "20")
    assert r.exit_code == 0, r.output
    items = [json.loads(line) for line in synth.read_text().splitlines()]
    assert items and all(it["question"] and it["answers"] for it in items)


def test_policy_train_and_eval(tmp_path, data_dir):
    from kgagent.config import AgentConfig, RetrievalConfig
    from kgagent.workspace import init_workspace

    ws = init_workspace(
        tmp_path / "ws", config=AgentConfig(retrieval=RetrievalConfig(encoder="hashing"))
    )
    assert runner.invoke(app, ["load", str(ws), str(data_dir / "tiny_kb.txt")]).exit_code == 0
    assert runner.invoke(app, ["index", str(ws)]).exit_code == 0
    qa = tmp_path / "qa.txt"
    qa.write_text("who directed [Titanic]\tJames Cameron\nwho directed [Inception]\t"
                  "Christopher Nolan\n" * 3)  # fmt: skip
    res = runner.invoke(app, ["policy", "eval", str(ws), "--queries", str(qa)])
    assert res.exit_code == 1 and "no policy" in res.output
    res = runner.invoke(app, ["policy", "train", str(ws), "--queries", str(qa), "--epochs", "2"])
    assert res.exit_code == 0, res.output
    assert (ws / "policy" / "default" / "weights.safetensors").exists()
    res = runner.invoke(app, ["policy", "eval", str(ws), "--queries", str(qa)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output[res.output.index("{") :])["queries"] == 6
