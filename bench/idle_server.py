"""Benchmark: CPU and log lines of an idle dashboard server, measured from outside.

Starts the server the way a user does (``scripts/run_app.sh`` arguments, or ``--command``), opens
one Chromium tab on Home, waits until the page has rendered, then samples the server process tree's
CPU time from ``/proc`` over ``--seconds`` (default 30) while the tab sits idle, and counts the log
lines written in that window. For comparison it measures the same with the file watcher on
(``--server.fileWatcherType auto``, Streamlit's default) unless ``--no-baseline``.

Run: ``python bench/idle_server.py [--seconds 30] [--no-baseline]`` (needs /usr/bin/chromium and playwright).
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live children (``/proc/<pid>/stat``)."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def measure(watcher: str, seconds: float) -> tuple[float, int]:
    """(CPU % of one core, log lines written) of an idle server with one open tab."""
    from playwright.sync_api import sync_playwright

    port = _free_port()
    runs = tempfile.mkdtemp(prefix="idle_runs_")
    log_path = Path(tempfile.mkstemp(prefix="idle_server_", suffix=".log")[1])
    env = dict(os.environ, HYDROCAST_RUNS=runs, PYTHONUNBUFFERED="1")
    cmd = [str(REPO / ".venv" / "bin" / "streamlit"), "run", "app.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", watcher]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", state="attached",
                                   timeout=120_000)
            page.get_by_text("Hydrocast Studio").first.wait_for()
            time.sleep(3)  # let the first render's work settle
            lines_before = len(log_path.read_bytes().splitlines())
            cpu_before, t0 = _tree_cpu_seconds(proc.pid), time.monotonic()
            time.sleep(seconds)
            cpu_after, t1 = _tree_cpu_seconds(proc.pid), time.monotonic()
            lines_after = len(log_path.read_bytes().splitlines())
            browser.close()
        return 100 * (cpu_after - cpu_before) / (t1 - t0), lines_after - lines_before
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--no-baseline", action="store_true", help="skip the run with the file watcher on")
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    cpu, lines = measure("none", args.seconds)
    print(f"watcher off (scripts/run_app.sh): {cpu:.2f} % of one core over {args.seconds:.0f} s, {lines} log lines")
    if not args.no_baseline:
        base_cpu, base_lines = measure("auto", args.seconds)
        print(f"watcher auto (Streamlit default): {base_cpu:.2f} % of one core, {base_lines} log lines")


if __name__ == "__main__":
    sys.exit(main())
