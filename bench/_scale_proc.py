"""Child processes for ``bench/scale.py``: each step runs alone and is measured alone
(wall time, CPU time, peak RSS), from kgagent as committed or as the working tree is.

Why children: the peak RSS of ``kgagent index`` is the figure the issue sets a bar on, and
in one process every step's memory would pile up in one high-water mark.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["export_commit", "kgagent", "run_child", "use_source", "worker"]

ROOT = Path(__file__).resolve().parents[1]
KGAGENT = Path(sys.executable).parent / "kgagent"
TIME = "/usr/bin/time"
SCRIPT = Path(__file__).resolve().with_name("scale.py")


def run_child(cmd: list[str], log: Path, *, timeout: float | None) -> dict:
    """Runs ``cmd`` (stdout and stderr to ``log``) and measures it alone: wall seconds, CPU
    seconds and peak RSS. A child past ``timeout`` is killed with its process group.

    Peak RSS is GNU time's ``%M`` where /usr/bin/time exists: ``os.wait4``'s ru_maxrss
    would not do, as Linux counts the RSS the child had at fork, which is this process's
    (a child forked from a 400 MiB parent reports >= 400 MiB however little it uses);
    /usr/bin/time forks the command from its own few MiB. Without it: the child's VmHWM
    (its exec'd image's high-water mark), polled every 50 ms until it exits.

    Raises:
        RuntimeError: the child failed or timed out; the message names the command, the
            log and its last lines.
    """
    stats = log.with_suffix(".time")
    timed = Path(TIME).is_file()
    full = [TIME, "-q", "-f", "%e %U %S %M", "-o", str(stats), *cmd] if timed else cmd
    t0 = time.perf_counter()
    hwm_kib, timed_out = 0, False
    with open(log, "ab") as fh:
        fh.write(f"$ {' '.join(cmd)}\n".encode())
        fh.flush()
        proc = subprocess.Popen(full, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = None if timeout is None else t0 + timeout
        while proc.poll() is None:
            if not timed:
                hwm_kib = max(hwm_kib, _vm_hwm_kib(proc.pid))
            if deadline is not None and time.perf_counter() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                timed_out = True
                break
            time.sleep(0.05)
    seconds = time.perf_counter() - t0
    out = {"seconds": seconds, "rc": proc.returncode, "rss_method": "GNU time %M"}
    if timed and not timed_out:
        _, user, sys_s, max_kib = stats.read_text().strip().splitlines()[-1].split()
        out.update(cpu_seconds=float(user) + float(sys_s), peak_rss_mib=int(max_kib) / 1024)
    elif not timed:
        out.update(peak_rss_mib=hwm_kib / 1024, rss_method="VmHWM polled every 50 ms")
    if timed_out or proc.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        why = f"timed out after {timeout:.0f} s" if timed_out else f"exit code {proc.returncode}"
        raise RuntimeError(f"{' '.join(cmd)}: {why}; log {log}:\n{tail}")
    return out


def _vm_hwm_kib(pid: int) -> int:
    """The process's peak resident set (VmHWM, KiB); 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


#: a child's first lines where kgagent comes from an exported commit: the editable
#: install's import hook (which would find the working tree) is dropped, the export put first
BOOT = """import runpy, sys
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in type(f).__module__]
sys.path.insert(0, sys.argv[1])
sys.argv = sys.argv[2:]
if sys.argv[0] == "kgagent":
    from kgagent.cli import main
    sys.exit(main())
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def use_source(src: Path) -> None:
    """Imports kgagent from ``src`` in this process too (as ``BOOT`` does in a child)."""
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in type(f).__module__]
    sys.path.insert(0, str(src))
    import kgagent

    if not Path(kgagent.__file__).resolve().is_relative_to(src.resolve()):
        raise RuntimeError(f"kgagent imported from {kgagent.__file__}, not from {src}")


def export_commit(root: Path) -> Path:
    """``kgagent/`` as committed at HEAD, under ``root/src``: the run measures the commit,
    not files other engineers are editing meanwhile."""
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "archive", "HEAD", "kgagent"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    return src


def kgagent(source: Path | None, *args: str) -> list[str]:
    """The command line of ``kgagent ARGS`` (from ``source`` when given)."""
    if source is None:
        return [str(KGAGENT), *args]
    return [sys.executable, "-c", BOOT, str(source), "kgagent", *args]


def worker(source: Path | None, kind: str, *args: str) -> list[str]:
    """The command line of one of this script's workers (``_ask``, ``_recall``)."""
    script = str(SCRIPT)
    if source is None:
        return [sys.executable, script, kind, *args]
    return [sys.executable, "-c", BOOT, str(source), script, kind, *args]
