"""Start and stop a throwaway Virtuoso Open Source server on loopback for tests.

The ``server`` tests (and CI) need a real SPARQL 1.1 store. :func:`run_virtuoso` writes a
small ``virtuoso.ini`` into a scratch directory, starts ``virtuoso-t`` in the foreground on
two free loopback ports, waits for the HTTP SPARQL endpoint, lets the anonymous ``/sparql``
endpoint run SPARQL 1.1 Update (so no credentials are needed), and stops the server again.

Install the binary with ``bash scripts/install-virtuoso.sh`` (Debian package
``virtuoso-opensource``, 7.2.5). The system service of that package is never used.

Virtuoso 7.2.5 quirks found against this set-up (see tests/test_virtuoso_harness.py):

* ``CaseMode = 2`` is required: without it ASK answers as a one-row SELECT with a variable
  ``__ASK_RETVAL`` instead of ``{"boolean": ...}``.
* ``INSERT DATA`` without ``GRAPH`` fails ("No plain default graph specified") unless the
  request carries ``using-graph-uri`` or ``default-graph-uri``; queries without ``FROM``
  see the union of all graphs.
* Blank nodes are rejected in ``INSERT DATA`` ("not allowed in a constant clause"); use
  ``INSERT { ... } WHERE {}`` instead.
* JSON results use ``"type": "typed-literal"`` for datatyped literals, lower-case language
  tags, ``nodeID://...`` blank node labels, and ``xsd:boolean`` values ``"1"``/``"0"``.
* TSV/CSV output is not SPARQL 1.1 TSV: the header is ``"s"\\t"o"`` (no ``?``), IRIs and
  blank nodes come as quoted strings, literals lose language tag and datatype, numbers and
  dates are bare, and tabs/newlines inside literals are written raw. Use JSON.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: Password of the ``dba`` account of a freshly created database (only reachable on loopback).
DBA_USER = "dba"
DBA_PASSWORD = "dba"

#: SQL run through isql once the server is up: lets the anonymous ``SPARQL`` user (the one
#: behind ``/sparql``) execute SPARQL 1.1 Update. On 7.2.5 this grant alone is enough; no
#: graph-level permissions need to be set.
SETUP_SQL = 'GRANT SPARQL_UPDATE TO "SPARQL";'

_INI_TEMPLATE = """\
; Throwaway Virtuoso for kgagent tests (written by tests/virtuoso.py).
[Database]
DatabaseFile        = {dir}/virtuoso.db
ErrorLogFile        = {dir}/virtuoso.log
LockFile            = {dir}/virtuoso.lck
TransactionFile     = {dir}/virtuoso.trx
xa_persistent_file  = {dir}/virtuoso.pxa
ErrorLogLevel       = 7
FileExtend          = 200
MaxCheckpointRemap  = 2000
Striping            = 0
TempStorage         = TempDatabase

[TempDatabase]
DatabaseFile        = {dir}/virtuoso-temp.db
TransactionFile     = {dir}/virtuoso-temp.trx
MaxCheckpointRemap  = 2000
Striping            = 0

[Parameters]
ServerPort          = 127.0.0.1:{isql_port}
LiteMode            = 0
DisableUnixSocket   = 1
DisableTcpSocket    = 0
MaxClientConnections = 20
CheckpointInterval  = 60
O_DIRECT            = 0
; 2 = case-insensitive, case-preserving identifiers; needed for standard ASK results.
CaseMode            = 2
MaxStaticCursorRows = 5000
CheckpointAuditTrail = 0
AllowOSCalls        = 0
SchedulerInterval   = 10
DirsAllowed         = ., {dir}
ThreadCleanupInterval = 0
ThreadThreshold     = 10
ResourcesCleanupInterval = 0
FreeTextBatchSize   = 100000
SingleCPU           = 0
PrefixResultNames   = 0
RdfFreeTextRulesSize = 100
IndexTreeMaps       = 64
MaxMemPoolSize      = 100000000
MaxQueryMem         = 1G
VectorSize          = 1000
MaxVectorSize       = 1000000
AdjustVectorSize    = 0
ThreadsPerQuery     = 2
AsyncQueueMaxThreads = 4
MaxSortedTopRows    = 1000000
; 8 KiB pages: ~130 MiB of buffers, enough for tests on a 2-core / 24 GiB machine.
NumberOfBuffers     = 17000
MaxDirtyBuffers     = 13000

[HTTPServer]
ServerPort          = 127.0.0.1:{http_port}
ServerRoot          = {dir}/vsp
MaxClientConnections = 16
DavRoot             = DAV
EnabledDavVSP       = 0
HTTPProxyEnabled    = 0
TempASPXDir         = 0
ServerThreads       = 16
MaxKeepAlives       = 10
KeepAliveTimeout    = 10
HTTPThreadSize      = 280000
HttpPrintWarningsInOutput = 0
Charset             = UTF-8
EnabledGzipContent  = 0

[Client]
SQL_PREFETCH_ROWS   = 100
SQL_PREFETCH_BYTES  = 16000
SQL_QUERY_TIMEOUT   = 0
SQL_TXN_TIMEOUT     = 0

[SPARQL]
ResultSetMaxRows           = 1000000
MaxQueryCostEstimationTime = 36000
MaxQueryExecutionTime      = 36000
MaxConstructTriples        = 1000000
DefaultQuery               = SELECT * WHERE {{ ?s ?p ?o }} LIMIT 10
DeferInferenceRulesInit    = 0
"""

# No [Plugins] section: the wiki/wbxml hosting plugins and VAD packages are not loaded, and
# no demo or tutorial data is installed (the Debian package's VADs are not even required).


@dataclass(frozen=True)
class VirtuosoServer:
    """A running throwaway Virtuoso instance.

    Attributes:
        query_endpoint: SPARQL 1.1 Protocol query URL, ``http://127.0.0.1:PORT/sparql``.
        update_endpoint: URL accepting SPARQL 1.1 Update by POST (form field ``update``);
            the same anonymous ``/sparql`` endpoint.
        auth: ``(user, password)`` if ``update_endpoint`` needs credentials; ``None`` here.
        isql_port: SQL (ODBC/isql) port, bound to 127.0.0.1.
        http_port: HTTP port, bound to 127.0.0.1.
        directory: Directory holding ``virtuoso.ini``, the database and the logs.
    """

    query_endpoint: str
    update_endpoint: str
    auth: tuple[str, str] | None
    isql_port: int
    http_port: int
    directory: Path

    @property
    def graph_store_endpoint(self) -> str:
        """SPARQL 1.1 Graph Store HTTP Protocol URL (anonymous, ``?graph-uri=`` parameter).

        POSTing N-Triples/Turtle here is Virtuoso's fastest way to load data over HTTP.
        """
        return f"http://127.0.0.1:{self.http_port}/sparql-graph-crud"

    @property
    def log_file(self) -> Path:
        """Path of the server's error log (``virtuoso.log``)."""
        return self.directory / "virtuoso.log"


class VirtuosoError(RuntimeError):
    """Virtuoso could not be started, configured or queried."""


def _virtuoso_binary() -> str | None:
    """Locates ``virtuoso-t`` (``$VIRTUOSO_T`` overrides ``PATH``).

    Returns:
        The path of the server binary, or ``None`` if it is not installed.
    """
    override = os.environ.get("VIRTUOSO_T")
    if override:
        return override if os.access(override, os.X_OK) else None
    return shutil.which("virtuoso-t")


def _isql_binary() -> str | None:
    """Locates Virtuoso's isql (Debian: ``isql-vt``; ``$VIRTUOSO_ISQL`` overrides).

    A bare ``isql`` is only accepted next to ``virtuoso-t`` (source builds), since the
    ``isql`` on ``PATH`` may be unixODBC's unrelated tool.

    Returns:
        The path of the isql binary, or ``None`` if none is found.
    """
    override = os.environ.get("VIRTUOSO_ISQL")
    if override:
        return override if os.access(override, os.X_OK) else None
    for name in ("isql-vt", "isql-v"):
        found = shutil.which(name)
        if found:
            return found
    server = _virtuoso_binary()
    if server:
        candidate = Path(server).resolve().parent / "isql"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def virtuoso_available() -> bool:
    """Tells whether the Virtuoso server and its isql client are installed.

    Returns:
        True if both ``virtuoso-t`` and isql can be found.
    """
    return _virtuoso_binary() is not None and _isql_binary() is not None


def _free_ports(count: int) -> list[int]:
    """Picks distinct free TCP ports on 127.0.0.1.

    Args:
        count: How many ports to pick.

    Returns:
        The port numbers (free when checked; the caller retries on a lost race).
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _write_ini(directory: Path, isql_port: int, http_port: int) -> Path:
    """Writes ``virtuoso.ini`` for the given ports into ``directory``.

    Args:
        directory: Database directory (created if missing).
        isql_port: SQL port.
        http_port: HTTP port.

    Returns:
        The path of the written ini file.
    """
    (directory / "vsp").mkdir(parents=True, exist_ok=True)
    ini = directory / "virtuoso.ini"
    ini.write_text(
        _INI_TEMPLATE.format(dir=directory, isql_port=isql_port, http_port=http_port),
        encoding="utf-8",
    )
    return ini


def _tail(path: Path, lines: int = 40) -> str:
    """Returns the last lines of a text file, or a note if it cannot be read.

    Args:
        path: File to read.
        lines: How many lines to return.

    Returns:
        The tail of the file.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Asks Linux to SIGTERM the server if the test process dies (no stray servers)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _endpoint_ready(query_endpoint: str) -> bool:
    """Checks that the SPARQL endpoint answers a trivial ASK with a standard boolean.

    Args:
        query_endpoint: The ``/sparql`` URL.

    Returns:
        True if the endpoint answered ``{"boolean": true}``.
    """
    url = query_endpoint + "?" + urllib.parse.urlencode({"query": "ASK {}"})
    request = urllib.request.Request(url, headers={"Accept": "application/sparql-results+json"})
    try:
        with _OPENER.open(request, timeout=5) as response:
            return json.loads(response.read().decode("utf-8")).get("boolean") is True
    except (OSError, ValueError):
        return False


def run_isql(server: VirtuosoServer, sql: str, *, timeout: float = 60.0) -> str:
    """Runs SQL statements as ``dba`` through isql on a running server.

    Args:
        server: The server to talk to.
        sql: One or more statements, each ending with ``;``.
        timeout: Seconds before giving up.

    Returns:
        isql's standard output.

    Raises:
        VirtuosoError: If isql is missing, fails, or reports an SQL error.
    """
    return _isql(server.isql_port, sql, timeout=timeout)


def _isql(port: int, sql: str, *, timeout: float) -> str:
    """Runs SQL through isql on ``127.0.0.1:port`` as ``dba``.

    Args:
        port: SQL port of the server.
        sql: Statements, each ending with ``;``.
        timeout: Seconds before giving up.

    Returns:
        isql's standard output.

    Raises:
        VirtuosoError: If isql is missing, fails, or reports an SQL error.
    """
    isql = _isql_binary()
    if isql is None:
        raise VirtuosoError("isql-vt not found: run `bash scripts/install-virtuoso.sh`")
    try:
        result = subprocess.run(
            [isql, f"127.0.0.1:{port}", DBA_USER, DBA_PASSWORD, f"exec={sql}"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise VirtuosoError(f"isql timed out after {timeout}s running {sql!r}") from exc
    output = result.stdout + result.stderr
    # isql exits 0 even on some SQL errors; they are printed as "*** Error ...".
    if result.returncode != 0 or "*** Error" in output:
        raise VirtuosoError(f"isql failed (exit {result.returncode}) on {sql!r}:\n{output}")
    return result.stdout


def _stop(process: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """Terminates the server (clean shutdown on SIGTERM), killing it after ``grace`` s.

    Args:
        process: The ``virtuoso-t`` process.
        grace: Seconds to wait after SIGTERM before SIGKILL.
    """
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


def _start_once(
    binary: str, directory: Path, deadline: float
) -> tuple[subprocess.Popen[bytes], VirtuosoServer] | None:
    """Starts one server on fresh ports and waits until its endpoint answers.

    Args:
        binary: Path of ``virtuoso-t``.
        directory: Database directory.
        deadline: ``time.monotonic()`` value by which the server must be ready.

    Returns:
        The process and server description, or ``None`` if a port was taken meanwhile
        (the caller retries with other ports).

    Raises:
        VirtuosoError: If the server exits or does not answer before the deadline.
    """
    isql_port, http_port = _free_ports(2)
    ini = _write_ini(directory, isql_port, http_port)
    log = directory / "virtuoso.log"
    log_offset = log.stat().st_size if log.exists() else 0
    console = directory / "virtuoso.out"
    with console.open("ab") as out:
        process = subprocess.Popen(
            [binary, "+foreground", "+configfile", str(ini)],
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    base = f"http://127.0.0.1:{http_port}"
    server = VirtuosoServer(
        query_endpoint=f"{base}/sparql",
        update_endpoint=f"{base}/sparql",
        auth=None,
        isql_port=isql_port,
        http_port=http_port,
        directory=directory,
    )
    try:
        while True:
            code = process.poll()
            if code is not None:
                # "Failed HTTP listen at ..." / "Failed to start listening at SQL port ...":
                # another process took a port between picking and binding; try new ones.
                if "listen" in _read_from(log, log_offset).lower():
                    return None
                message = f"virtuoso-t exited with code {code} during start-up.\n"
                message += f"--- tail of {log} ---\n{_tail(log)}"
                if _tail(console) != _tail(log):
                    message += f"\n--- tail of {console} ---\n{_tail(console)}"
                raise VirtuosoError(message)
            if _endpoint_ready(server.query_endpoint):
                return process, server
            if time.monotonic() > deadline:
                raise VirtuosoError(
                    f"Virtuoso did not answer on {server.query_endpoint} in time.\n"
                    f"--- tail of {log} ---\n{_tail(log)}"
                )
            time.sleep(0.2)
    except BaseException:
        _stop(process)
        raise


def _read_from(path: Path, offset: int) -> str:
    """Reads a text file from a byte offset (empty if it does not exist).

    Args:
        path: File to read.
        offset: Byte offset to start at.

    Returns:
        The text after ``offset``.
    """
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


@contextmanager
def run_virtuoso(directory: Path, *, timeout: float = 60.0) -> Iterator[VirtuosoServer]:
    """Runs a throwaway Virtuoso with its database in ``directory``.

    The server listens on two free ports of 127.0.0.1 only. Anonymous SPARQL 1.1 Update is
    allowed on ``/sparql``, so :attr:`VirtuosoServer.auth` is ``None``. Reusing a directory
    reopens the same database (on new ports).

    Args:
        directory: Scratch directory for ``virtuoso.ini``, database files and logs.
        timeout: Seconds to wait for the server to come up and be configured.

    Yields:
        The running server; it is stopped (SIGTERM, then SIGKILL) when the block exits.

    Raises:
        VirtuosoError: If Virtuoso is not installed or does not start in time; the message
            carries the tail of the server log.
    """
    binary = _virtuoso_binary()
    if binary is None or _isql_binary() is None:
        raise VirtuosoError("Virtuoso is not installed: run `bash scripts/install-virtuoso.sh`")
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    started = None
    for _ in range(5):
        started = _start_once(binary, directory, deadline)
        if started is not None:
            break
    if started is None:
        raise VirtuosoError("could not bind Virtuoso to free loopback ports after 5 tries")
    process, server = started
    try:
        while True:
            try:
                _isql(server.isql_port, SETUP_SQL, timeout=max(1.0, deadline - time.monotonic()))
                break
            except VirtuosoError as exc:
                if "already have role" in str(exc):  # reopened database: granted before
                    break
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.5)
        yield server
    finally:
        _stop(process)
