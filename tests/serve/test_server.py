"""The app under a real uvicorn on a free loopback port, as `kgagent serve` runs it: 16
concurrent clients get exactly the answers one client gets asking in turn, with no
errors; a stream arrives over the socket in its order; and the `kgagent serve` command
itself starts, answers and stops (its start-up errors are one line)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from typer.testing import CliRunner

from kgagent.cli import app as cli
from kgagent.cli.serve import base_url, build_server, exposure_warning
from kgagent.serve import ServeSettings

QUESTIONS = [
    "Who directed Jaws?",
    "Who directed Ronin?",
    "Who starred in Goodfellas?",
    "How many films did Steven Spielberg direct?",
    "Which films did Martin Scorsese direct?",
    "What is the rating of Jaws?",
    "Did Steven Spielberg direct Jaws?",
    "Who directed The Departed?",
]
CLIENTS = 16


def _stable(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("latency_ms", "timings")}


@pytest.fixture(scope="module")
def server(agent):
    """The base URL of a uvicorn serving the films agent on a free loopback port."""
    srv = build_server(agent, ServeSettings(), host="127.0.0.1", port=0,  # the defaults:
                       log_level="warning")  # fmt: skip  # 8 slots, a burst waits
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_16_concurrent_clients_get_the_sequential_answers(server):
    with httpx.Client(base_url=server, timeout=30) as one:
        expected = {q: _stable(one.post("/v1/ask", json={"question": q}).json())
                    for q in QUESTIONS}  # fmt: skip
    assert expected["Who directed Jaws?"]["answers"] == ["Steven Spielberg"]

    def client(i: int) -> list[tuple[str, int, dict]]:
        """Client i asks every question twice, starting at the i-th; odd clients stream
        (retrieve, then answer from that evidence)."""
        order = QUESTIONS[i % len(QUESTIONS) :] + QUESTIONS[: i % len(QUESTIONS)]
        with httpx.Client(base_url=server, timeout=30) as c:
            out = []
            for q in order * 2:
                r = c.post("/v1/ask", json={"question": q}, params={"stream": i % 2 == 1})
                if i % 2:
                    last = r.text.strip().split("\n\n")[-1].split("\n")
                    assert last[0] == "event: answer", r.text
                    out.append((q, r.status_code, json.loads(last[1][6:])))
                else:
                    out.append((q, r.status_code, r.json()))
            return out

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = [x for got in pool.map(client, range(CLIENTS)) for x in got]
    assert len(results) == CLIENTS * len(QUESTIONS) * 2
    assert [s for _, s, _ in results if s != 200] == []
    wrong = [q for q, _, rec in results if _stable(rec) != expected[q]]
    assert wrong == []
    metrics = httpx.get(server + "/metrics").text
    asked = len(results) + len(QUESTIONS)
    assert f'endpoint="/v1/ask",method="POST",status="200"}} {asked}' in metrics


def test_16_concurrent_conversations_each_read_against_its_own_turns(server):
    firsts = {"Jaws": ["Steven Spielberg"], "Ronin": ["John Frankenheimer"],
              "Goodfellas": ["Martin Scorsese"], "The Departed": ["Martin Scorsese"]}  # fmt: skip
    films = list(firsts)

    def talk(i: int) -> tuple[list[str], dict]:
        film = films[i % len(films)]
        with httpx.Client(base_url=server, timeout=30) as c:
            cid = c.post("/v1/conversations").json()["id"]
            turns = f"/v1/conversations/{cid}/turns"
            first = c.post(turns, json={"question": f"Who directed {film}?"})
            second = c.post(turns, json={"question": "What else did they direct?"})
            assert c.delete(f"/v1/conversations/{cid}").status_code == 204
            return first.json()["answers"], second.json()

    with ThreadPoolExecutor(CLIENTS) as pool:
        got = list(pool.map(talk, range(CLIENTS)))
    for i, (first, second) in enumerate(got):
        film = films[i % len(films)]
        assert first == firsts[film]
        assert second["turn"] == 1 and second["context"]["kind"] == "reference"
        assert second["context"]["asked"] == [f"What else did {firsts[film][0]} direct?"]
        assert film not in second["answers"]


def test_a_stream_arrives_over_the_socket_in_order(server):
    events = []
    with httpx.stream("POST", server + "/v1/ask?stream=true",
                      json={"question": "Who directed Jaws?"}, timeout=30) as r:  # fmt: skip
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                events.append(line[7:])
            elif line.startswith("data: ") and events[-1] == "answer":
                assert json.loads(line[6:])["answers"] == ["Steven Spielberg"]
    assert events == ["entities", "candidates", "answer"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_kgagent_serve_starts_answers_with_the_key_and_stops(films_ws):
    port = _free_port()
    env = {**os.environ, "KGAGENT_TEST_SERVE_KEY": "s3cret-key", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "kgagent.cli", "serve", str(films_ws), "--port", str(port),
           "--api-key-env", "KGAGENT_TEST_SERVE_KEY", "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "kgagent serve did not start"
            time.sleep(0.1)
        ask = {"question": "Who directed Jaws?"}
        assert httpx.post(url + "/v1/ask", json=ask).status_code == 401
        r = httpx.post(url + "/v1/ask", json=ask, headers={"Authorization": "Bearer s3cret-key"})
        assert r.status_code == 200 and r.json()["answers"] == ["Steven Spielberg"]
        assert "server" not in r.headers  # no Server header advertising the stack
        assert "<html" in httpx.get(url + "/").text.lower()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    # uvicorn shuts down gracefully, then re-raises SIGINT: Ctrl+C's usual status
    assert proc.returncode in (0, 130, -signal.SIGINT), err
    assert "Traceback" not in err
    assert f"at http://127.0.0.1:{port}/ (API docs: http://127.0.0.1:{port}/docs" in out
    assert "s3cret-key" not in out + err and "warning:" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give a WORKSPACE, or a team's members with --agent"),
        (["WS", "--agent", "WS"], "give a WORKSPACE, or a team's members with --agent"),
        (["WS", "--team", "T"], "--team goes with --agent members"),
        (["NOT_A_WS"], "not a kgagent workspace"),
        (["WS", "--api-key-env", "KGAGENT_TEST_UNSET_VAR"], "KGAGENT_TEST_UNSET_VAR is not set"),
        (["WS", "--max-concurrency", "0"], "max_concurrency"),
    ],
)
def test_start_up_errors_are_one_line(films_ws, tmp_path, monkeypatch, args, message):
    monkeypatch.delenv("KGAGENT_TEST_UNSET_VAR", raising=False)
    where = {"WS": str(films_ws), "T": str(tmp_path / "team"), "NOT_A_WS": str(tmp_path)}
    r = CliRunner().invoke(cli, ["serve", *[where.get(a, a) for a in args]])
    assert r.exit_code == 1 and message in r.stderr, r.output
    assert "Traceback" not in r.output


def test_url_and_the_warning_for_an_open_service():
    assert base_url("127.0.0.1", 8000) == "http://127.0.0.1:8000/"
    assert base_url("0.0.0.0", 80) == "http://127.0.0.1:80/"
    assert base_url("::1", 8000) == "http://[::1]:8000/"
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.5"):
        assert exposure_warning(host, None) is None
    assert "no API key" in exposure_warning("0.0.0.0", None)
    assert "no API key" in exposure_warning("192.168.1.4", None)
    assert exposure_warning("0.0.0.0", "key") is None
