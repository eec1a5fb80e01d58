"""``kgagent serve`` under load (issue 22): N concurrent clients against one client.

    python bench/serve_load.py [--ws workspaces/demo] [--clients 16] [--seconds 20]
                               [--questions FILE] [--max-concurrency N] [--dry-run]

The bench starts ``kgagent serve WS --host 127.0.0.1 --port P`` itself, as a subprocess
on a free loopback port, and waits for ``GET /healthz``. Then, all through httpx over
loopback (``POST /v1/ask {"question"}``):

1. the reference: each question asked once, in order, by one client (this also warms
   the service up);
2. one client asking the questions in a loop for ``--seconds``;
3. ``--clients`` clients at once, each asking the questions in a loop (each from its own
   offset in the list, so different questions are in flight together) for
   ``--seconds``; a client stops starting asks at the deadline and finishes the one in
   flight.

Per phase: answers per second (HTTP 200 replies over the phase's wall time, the last ask
included), p50 / p95 / p99 latency of the 200 replies, and errors by status (a reply
other than 200, or the exception of an ask that got no reply). Every 200 reply's
``answers`` list must equal the reference's for the same question, order included: a
service that shares one agent between requests must not mix them up.

The service runs with ``--max-concurrency`` (default: ``--clients``, so that the clients
measure throughput rather than the service's 429 refusals; its own default is 8). The
bench's clients share the machine with the service: on 2 cores they take a share of
the CPU the service would otherwise have.

Questions: ``--questions FILE`` (one a line, or JSON lines with a "question" field; blank
lines and ``#`` comments skipped), else the demo's stand-alone questions
(examples/demo.py). Results: bench/results/serve_load.json and the section of
docs/benchmarks.md (neither with ``--dry-run``); the table on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, update_doc_section, write_results

#: the demo's stand-alone questions (examples/demo.py QUESTIONS): lookups, a list, an
#: abstention, and each typed kind (count, yes/no, constraints, superlative, comparison)
DEMO_QUESTIONS = (
    "Who directed Inception?",
    "Which films did Christopher Nolan direct?",
    "Who composed the music of The Dark Knight Rises?",
    "Which genres do the films directed by Denis Villeneuve have?",
    "What is the capital of Mongolia?",
    "How many films did Christopher Nolan direct?",
    "Did Denis Villeneuve direct Inception?",
    "Which films directed by Christopher Nolan star Tom Hardy?",
    "Which films did Christopher Nolan direct in 2010?",
    "What is the earliest film directed by Christopher Nolan?",
    "Which was released first, Memento or Inception?",
    "When was Interstellar released?",
)
ASK_TIMEOUT = 120.0  # seconds one ask may take before it counts as an error


@dataclass(frozen=True)
class Ask:
    """One ask as a client saw it: ``status`` is the HTTP status, or None with
    ``error`` naming the exception where no reply came."""

    question: str
    status: int | None
    ms: float
    answers: tuple[str, ...] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.answers is not None

    @property
    def outcome(self) -> str:
        """The key errors are counted by: what went wrong, else the status."""
        return self.error or str(self.status)


# -- the pure parts: percentiles, the answer check, the summary, the table -----------------


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values``, interpolated linearly between the two
    nearest ranks (numpy's default); None for no values."""
    if not values:
        return None
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q: {q} is not in [0, 1]")
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def check_answers(reference: dict[str, tuple[str, ...]], asks: list[Ask]) -> dict:
    """Every 200 reply's answers against the reference for its question: how many were
    checked and the ones that differ (question, expected, got), in the order asked."""
    mismatches = []
    checked = 0
    for a in asks:
        if not a.ok:
            continue
        if a.question not in reference:
            raise KeyError(f"no reference answer for question {a.question!r}")
        checked += 1
        if a.answers != reference[a.question]:
            mismatches.append(
                {
                    "question": a.question,
                    "expected": list(reference[a.question]),
                    "got": list(a.answers or ()),
                }
            )
    return {"checked": checked, "mismatches": mismatches}


def summarize(asks: list[Ask], wall_s: float, clients: int) -> dict:
    """A phase's numbers: asks, 200 replies per second of wall time, latency percentiles
    over the 200 replies, and the others counted by status (or exception)."""
    ok_ms = [a.ms for a in asks if a.ok]

    def rounded(x: float | None) -> float | None:
        return None if x is None else round(x, 1)

    return {
        "clients": clients,
        "asks": len(asks),
        "ok": len(ok_ms),
        "wall_s": round(wall_s, 3),
        "questions_per_s": round(len(ok_ms) / wall_s, 3) if wall_s > 0 else None,
        "p50_ms": rounded(percentile(ok_ms, 0.50)),
        "p95_ms": rounded(percentile(ok_ms, 0.95)),
        "p99_ms": rounded(percentile(ok_ms, 0.99)),
        "errors": dict(sorted(Counter(a.outcome for a in asks if not a.ok).items())),
    }


def table(phases: list[dict], checks: list[dict]) -> str:
    """The markdown table: one row per phase, throughput relative to the first (the
    single client), and the answer check's result."""
    base = phases[0]["questions_per_s"] if phases else None
    lines = [
        "| clients | asks | answers/s | vs 1 client | p50 ms | p95 ms | p99 ms | errors "
        "| answers = sequential |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]

    def num(x: float | None, digits: int = 1) -> str:
        return "-" if x is None else f"{x:,.{digits}f}"

    for phase, check in zip(phases, checks, strict=True):
        qps = phase["questions_per_s"]
        ratio = f"{qps / base:.2f}x" if qps is not None and base else "-"
        errors = ", ".join(f"{k}: {v}" for k, v in phase["errors"].items()) or "none"
        bad = len(check["mismatches"])
        same = f"{check['checked'] - bad}/{check['checked']}"
        lines.append(
            f"| {phase['clients']} | {phase['asks']:,} | {num(qps, 2)} | {ratio} "
            f"| {num(phase['p50_ms'])} | {num(phase['p95_ms'])} | {num(phase['p99_ms'])} "
            f"| {errors} | {same} |"
        )
    return "\n".join(lines)


def read_questions(path: Path) -> list[str]:
    """Questions from a file: one a line, or JSON objects with a "question" field;
    blank lines and ``#`` comments are skipped; the file and line are named on error."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            try:
                question = json.loads(line).get("question")
            except (ValueError, AttributeError):
                question = None
            if not isinstance(question, str) or not question.strip():
                raise SystemExit(f"{path}:{n}: expected a JSON object with a 'question' string")
            line = question.strip()
        out.append(line)
    if not out:
        raise SystemExit(f"{path}: no questions")
    return out


# -- the service and its clients ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """``kgagent serve`` as a subprocess on loopback, its output in a log file (shown
    when it fails to come up)."""

    def __init__(self, ws: Path, port: int, max_concurrency: int, log_dir: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_dir / "serve.log"
        cmd = [sys.executable, "-m", "kgagent.cli", "serve", str(ws), "--host", "127.0.0.1",
               "--port", str(port), "--max-concurrency", str(max_concurrency),
               "--log-level", "warning"]  # fmt: skip
        self.cmd = cmd
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float) -> float:
        """Seconds until ``/healthz`` answered 200 (loading the agent and its models)."""
        import httpx

        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"kgagent serve exited ({self.proc.returncode}):\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2.0).status_code == 200:
                    return time.monotonic() - t0
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"kgagent serve not ready within {timeout:g} s:\n{self.log()}")

    def peak_rss_mib(self) -> float | None:
        """The service's peak resident set (Linux /proc), MiB."""
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
        return None

    def log(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def ask_once(client, url: str, question: str) -> Ask:
    import httpx

    t0 = time.perf_counter()
    try:
        reply = client.post(f"{url}/v1/ask", json={"question": question})
    except httpx.HTTPError as exc:
        return Ask(question, None, (time.perf_counter() - t0) * 1000, error=type(exc).__name__)
    ms = (time.perf_counter() - t0) * 1000
    answers = None
    if reply.status_code == 200:
        try:
            answers = tuple(str(a) for a in reply.json()["answers"])
        except (ValueError, KeyError, TypeError):
            return Ask(question, reply.status_code, ms, error="reply without answers")
    return Ask(question, reply.status_code, ms, answers)


def run_phase(url: str, questions: list[str], clients: int, seconds: float) -> tuple[list, float]:
    """``clients`` threads, each with its own httpx client, asking in a loop until the
    deadline; returns every ask and the phase's wall time (to the last reply)."""
    import httpx

    results: list[list[Ask]] = [[] for _ in range(clients)]
    start = threading.Barrier(clients + 1)

    def client_loop(i: int) -> None:
        with httpx.Client(timeout=ASK_TIMEOUT) as client:
            n = i * max(1, len(questions) // clients)  # spread the clients over the list
            start.wait()
            while time.monotonic() < deadline:
                results[i].append(ask_once(client, url, questions[n % len(questions)]))
                n += 1

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    deadline = t0 + seconds
    start.wait()
    for t in threads:
        t.join()
    return [a for r in results for a in r], time.monotonic() - t0


def reference_answers(url: str, questions: list[str]) -> tuple[dict, list[Ask]]:
    """Each distinct question asked once, in order, by one client."""
    import httpx

    asks = []
    with httpx.Client(timeout=ASK_TIMEOUT) as client:
        for q in dict.fromkeys(questions):
            asks.append(ask_once(client, url, q))
    bad = [a for a in asks if not a.ok]
    if bad:
        raise SystemExit(f"the reference asks failed: {[(a.question, a.outcome) for a in bad]}")
    return {a.question: a.answers for a in asks}, asks


def section(result: dict, markdown: str) -> str:
    m, c = result["machine"], result["config"]
    versions = ", ".join(f"{k} {v}" for k, v in result["serving_versions"].items())
    source = f"from {c['questions_file']}" if c["questions_file"] else "the demo's stand-alone ones"
    return (
        "## Serving under load (bench/serve_load.py)\n\n"
        f"{m['cores']} cores, Python {m['python']}, {m['date']}. `kgagent serve {c['ws']}` "
        f"(--max-concurrency {c['max_concurrency']}) on loopback, started by the bench; "
        f"{c['questions']} questions ({source}), each "
        f"client asking them in a loop through httpx for {c['seconds']:g} s: one client, "
        f"then {c['clients']} at once. The clients run on the same machine. Latency over "
        "the 200 replies; every reply's `answers` compared with the reference (each "
        f"question asked once, sequentially, first). Service ready in "
        f"{result['startup_s']:.1f} s; peak RSS {result['service_peak_rss_mib']} MiB; "
        f"{versions}.\n\n"
        f"{markdown}\n\n{reading(result['phases'])}\n"
    )


def reading(phases: list[dict]) -> str:
    """The table in one sentence: the many clients against the one."""
    one, many = phases[0], phases[-1]
    if not one["questions_per_s"] or not one["p50_ms"] or not many["p50_ms"]:
        return "No ratio: a phase got no answers."
    errors = sum(many["errors"].values())
    same = many["mismatch_count"] == 0
    speed = many["questions_per_s"] / one["questions_per_s"]
    slower = many["p50_ms"] / one["p50_ms"]
    return (
        f"{many['clients']} clients at once: {speed:.2f}x the single client's answers per "
        f"second, each ask {slower:.1f}x "
        f"as long at the median; {errors or 'no'} errors; "
        + (
            "every answer the sequential one."
            if same
            else "ANSWERS DIFFER from the sequential ones."
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--ws", type=Path, default=ROOT / "workspaces" / "demo")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0, help="per phase")
    ap.add_argument("--questions", type=Path, help="one a line, or JSON lines")
    ap.add_argument("--max-concurrency", type=int, help="the service's (default: --clients)")
    ap.add_argument("--startup-timeout", type=float, default=300.0)
    ap.add_argument("--dry-run", action="store_true", help="write no results or docs")
    args = ap.parse_args()
    if args.clients < 1 or args.seconds <= 0:
        ap.error("--clients must be >= 1 and --seconds > 0")
    questions = read_questions(args.questions) if args.questions else list(DEMO_QUESTIONS)
    concurrency = args.max_concurrency or args.clients

    with tempfile.TemporaryDirectory(prefix="serve_load_") as tmp:
        service = Service(args.ws, free_port(), concurrency, Path(tmp))
        try:
            startup_s = service.wait_ready(args.startup_timeout)
            print(f"service ready in {startup_s:.1f} s at {service.url}", file=sys.stderr)
            reference, ref_asks = reference_answers(service.url, questions)
            phases, checks = [], []
            for clients in (1, args.clients):
                asks, wall = run_phase(service.url, questions, clients, args.seconds)
                phases.append(summarize(asks, wall, clients))
                checks.append(check_answers(reference, asks))
                print(json.dumps(phases[-1]), file=sys.stderr)
            rss = service.peak_rss_mib()
        finally:
            service.stop()

    markdown = table(phases, checks)
    print(markdown)
    ws = args.ws.resolve()
    result = {
        "machine": machine(),
        "config": {
            "ws": str(ws.relative_to(ROOT)) if ws.is_relative_to(ROOT) else str(ws),
            "clients": args.clients,
            "seconds": args.seconds,
            "questions": len(questions),
            "questions_file": str(args.questions) if args.questions else None,
            "max_concurrency": concurrency,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        },
        "serving_versions": {p: metadata.version(p) for p in ("fastapi", "uvicorn", "httpx")},
        "startup_s": round(startup_s, 2),
        "service_peak_rss_mib": rss,
        "reference_ms": {a.question: round(a.ms, 1) for a in ref_asks},
        "phases": [
            {
                **p,
                "answers_checked": c["checked"],
                "mismatches": c["mismatches"][:10],
                "mismatch_count": len(c["mismatches"]),
            }
            for p, c in zip(phases, checks, strict=True)
        ],
    }
    if not args.dry_run:
        path = write_results("serve_load", result)
        update_doc_section("serve_load", section(result, markdown))
        print(f"wrote {path} and docs/benchmarks.md", file=sys.stderr)
    bad = sum(len(c["mismatches"]) for c in checks)
    if bad:
        raise SystemExit(f"{bad} concurrent answers differ from the sequential ones")


if __name__ == "__main__":
    main()
