"""Training on a shared CPU: the quick dXAJ and quick rain runs alone and beside other work (issue 16).

Each run is a fresh ``python -m core ... train`` process, timed from outside, with the thread policy
off (``HYDROCAST_THREADS=off``: torch's and OpenMP's defaults, the behaviour before issue 16) and on
(the default, ``core.machine.threads``), in three settings:

- alone;
- beside one ordinary PyTorch training (``bench/torch_competitor.py``: LSTM hidden 64, batch 64,
  365 steps, default threads and wait policy, started a few seconds earlier);
- beside two busy shell loops (``yes > /dev/null``), one per core of a 2-core machine.

Runs are interleaved (every setting and policy once per repeat) so that drift in other load hits all
of them alike; the median, the spread (min-max) and the slowdown against the same policy alone are
printed, with the 1-minute load average seen at each start. A run that exceeds ``--timeout`` is
stopped and shown as ``>timeout``. dXAJ times are the training seconds from its ``history.json``
(``configs/hydro_quick.yaml --model dpl --baselines none``); rain times are the wall time of the
whole process (its history has no clock) for ``configs/rain_quick.yaml`` shortened to
``--rain-epochs`` epochs per experiment and a one-month training period (``RAIN_TRAIN_PERIOD``).
``--xaj-speed`` also runs ``bench/xaj_speed.py`` with the policy off and on (quiet-machine check).
Every child (runs, competitors, loops) leads its own process group and is stopped at the end, also
on Ctrl-C or SIGTERM.

    .venv/bin/python bench/shared_cpu.py [--repeats 3] [--workloads dxaj,rain] [--xaj-speed] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine_info import cpu_name  # bench/ is on sys.path as the script folder

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# variables of the policy (core.machine.threads) and the user's own thread settings: removed from every
# child's environment so "off" really is torch's default and "on" is the policy's choice
POLICY_VARIABLES = ("HYDROCAST_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_NUM_THREADS",
                    "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER", "HYDROCAST_THREAD_POLICY")
POLICIES = ("off", "on")
SETTINGS = ("alone", "torch", "busy loops")
# the quick rain run shortened to about a quarter of its training samples and --rain-epochs epochs,
# so that a repeat stays in minutes on a shared machine; evaluation on the test period is unchanged
RAIN_TRAIN_PERIOD = ("2001-01-04", "2001-02-04")

_CHILDREN: list[subprocess.Popen] = []


def clean_environment(policy: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in POLICY_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    if policy == "off" or (policy or "").isdigit():  # "N": the policy with N threads
        env["HYDROCAST_THREADS"] = policy
    return env


def spawn(cmd: list[str], env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
    out = open(log, "wb") if log else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        if log:
            out.close()
    _CHILDREN.append(proc)
    return proc


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the child's process group, SIGKILL after 5 s."""
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
    if proc in _CHILDREN:
        _CHILDREN.remove(proc)


def stop_all() -> None:
    for proc in list(_CHILDREN):
        stop(proc)


def start_competitors(setting: str, seconds: float) -> list[subprocess.Popen]:
    if setting == "torch":
        procs = [spawn([PYTHON, str(REPO / "bench" / "torch_competitor.py"), "--seconds", str(seconds)],
                       clean_environment(None))]
        time.sleep(4.0)  # past its torch import: training when the measured run starts
        return procs
    if setting == "busy loops":
        procs = [spawn(["sh", "-c", "yes > /dev/null"], clean_environment(None)) for _ in range(2)]
        time.sleep(0.5)
        return procs
    return []


def workload_command(name: str, run_dir: Path, rain_epochs: int) -> list[str]:
    if name == "dxaj":
        return [PYTHON, "-m", "core", "hydro", "train", "--config", "configs/hydro_quick.yaml", "--model", "dpl",
                "--baselines", "none", "--run-dir", str(run_dir), "--no-progress"]
    return [PYTHON, "-m", "core", "rain", "train", "--config", "configs/rain_quick.yaml", "--epochs",
            str(rain_epochs), "--train-period", *RAIN_TRAIN_PERIOD, "--run-dir", str(run_dir), "--no-progress"]


def run_once(name: str, policy: str, setting: str, work: Path, args: argparse.Namespace, tag: str) -> dict:
    run_dir = work / tag
    load = os.getloadavg()[0]
    competitors = start_competitors(setting, args.timeout + 60)
    try:
        t0 = time.monotonic()
        proc = spawn(workload_command(name, run_dir, args.rain_epochs), clean_environment(policy),
                     log=work / f"{tag}.log")
        try:
            code = proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            code = None
        wall = time.monotonic() - t0
        stop(proc)
    finally:
        for comp in competitors:
            stop(comp)
    record = {"workload": name, "policy": policy, "setting": setting, "load": load, "wall": wall,
              "timeout": code is None, "seconds": None}
    if code is None:
        record["seconds"] = float(args.timeout)
    elif code != 0:
        raise SystemExit(f"bench/shared_cpu.py: {' '.join(workload_command(name, run_dir, args.rain_epochs))} "
                         f"failed with exit code {code}; see {work / (tag + '.log')}")
    elif name == "dxaj":
        history = json.loads((run_dir / "history.json").read_text())
        record["seconds"] = float(history[-1]["seconds"])
    else:
        record["seconds"] = wall
    return record



def machine() -> str:
    import numba
    import torch

    return (f"{platform.platform()} | {cpu_name()} | {os.cpu_count()} cores | torch {torch.__version__} | "
            f"numba {numba.__version__} | python {platform.python_version()}")


def fmt(record_list: list[dict]) -> tuple[float, str]:
    values = [r["seconds"] for r in record_list]
    med = statistics.median(values)
    hit = any(r["timeout"] for r in record_list)
    spread = f"{min(values):.1f}-{max(values):.1f}" + ("+" if hit else "")
    return med, spread


def summarise(records: list[dict], markdown: bool, timeout: float) -> None:
    print()
    if markdown:
        print("| run | policy | beside it | median s | spread (min-max) s | slowdown | load avg (1 min) |")
        print("|---|---|---|---:|---:|---:|---:|")
    for name in dict.fromkeys(r["workload"] for r in records):
        alone = {}
        for policy in dict.fromkeys(r["policy"] for r in records):
            for setting in SETTINGS:
                cell = [r for r in records if (r["workload"], r["policy"], r["setting"]) == (name, policy, setting)]
                if not cell:
                    continue
                med, spread = fmt(cell)
                if setting == "alone":
                    alone[policy] = med
                more = ">" if sum(r["timeout"] for r in cell) * 2 > len(cell) else ""
                ratio_text = (f"{more}{med / alone[policy]:.1f}x" if policy in alone and alone[policy] < timeout
                              else "n/a (alone timed out)")
                loads = ", ".join(f"{r['load']:.1f}" for r in cell)
                if markdown:
                    print(f"| {name} | {policy} | {setting} | {more}{med:.1f} | {spread} | {ratio_text} | {loads} |")
                else:
                    print(f"  {name:5s} policy {policy:3s} beside {setting:10s}: median {more}{med:6.1f} s "
                          f"(spread {spread} s, n={len(cell)})  slowdown {ratio_text}  load {loads}")
        if "off" in alone and "on" in alone:
            capped = "<" if alone["off"] >= timeout else ""
            print(f"  {name}: alone, policy on / off = {capped}{alone['on'] / alone['off']:.2f} "
                  f"({alone['on']:.1f} s vs {'>' if capped else ''}{alone['off']:.1f} s; < 1 is faster with the policy)")


XAJ_LABELS = ("(a) 256 basins, 365+365 d: forward", "(a) 256 basins, 365+365 d: forward+backward",
              "dPL training step on (a) (LSTM 64 + XAJ + AdamW)")


def xaj_speed(policy: str, work: Path, timeout: float) -> dict[str, tuple[float, float]]:
    """Fused time (ms) and speed-up over the reference of bench/xaj_speed.py --repeats 3 under ``policy``."""
    log = work / f"xaj_speed-{policy}.log"
    proc = spawn([PYTHON, str(REPO / "bench" / "xaj_speed.py"), "--repeats", "3"], clean_environment(policy), log=log)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    stop(proc)
    ratios = {}
    for line in log.read_text().splitlines():
        found = re.match(r"\s+(.+?)\s+reference .* fused\s+([\d.]+) ms\s+ratio\s+([\d.]+)x", line)
        if found and found.group(1) in XAJ_LABELS:
            ratios[found.group(1)] = (float(found.group(2)), float(found.group(3)))
    return ratios


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_all(workloads: list[str], settings: list[str], policies: list[str], records: list[dict], work: Path,
            args: argparse.Namespace) -> None:
    """Every run, interleaved, appended to ``records`` as it finishes; then the summary."""
    for name in workloads:
        for rep in range(args.repeats):
            for setting in settings:
                for policy in policies if rep % 2 == 0 else policies[::-1]:
                    tag = f"{name}-{policy}-{setting.replace(' ', '_')}-{rep}"
                    rec = run_once(name, policy, setting, work, args, tag)
                    records.append(rec)
                    print(f"  {tag:32s} {'>' if rec['timeout'] else ''}{rec['seconds']:6.1f} s "
                          f"(wall {rec['wall']:.1f} s, load {rec['load']:.1f})", flush=True)
    summarise(records, args.markdown, args.timeout)
    if args.xaj_speed:
        print()
        for policy in policies:
            ratios = xaj_speed(policy, work, timeout=600)
            shown = "; ".join(f"{k}: {ms:.1f} ms, {r:.1f}x" for k, (ms, r) in ratios.items())
            print(f"  xaj_speed policy {policy}: {shown} (load {os.getloadavg()[0]:.1f})", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workloads", default="dxaj,rain", help="comma-separated: dxaj, rain")
    ap.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated: " + ", ".join(SETTINGS))
    ap.add_argument("--policies", default=",".join(POLICIES), help="comma-separated: off, on, or a thread count N (the policy with N threads)")
    ap.add_argument("--rain-epochs", type=int, default=1, help="epochs per rain experiment (bounds the run)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds before a run is stopped")
    ap.add_argument("--xaj-speed", action="store_true", help="also bench/xaj_speed.py with the policy off and on")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # stopped like Ctrl-C: the children are stopped too
    workloads = [w for w in args.workloads.split(",") if w]
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    policies = [p for p in args.policies.split(",") if p]
    print("machine:", machine(), flush=True)
    print("load average at start:", " ".join(f"{x:.1f}" for x in os.getloadavg()), flush=True)
    records: list[dict] = []
    try:
        with tempfile.TemporaryDirectory(prefix="shared_cpu-") as tmp:
            try:
                run_all(workloads, settings, policies, records, Path(tmp), args)
            finally:
                # children first, then the folder they write into; a second Ctrl-C must not cut this short
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                stop_all()
    except KeyboardInterrupt:
        print("\ninterrupted: the child processes were stopped", file=sys.stderr)
        if records:
            summarise(records, args.markdown, args.timeout)
        raise SystemExit(130)
    print("load average at end:", " ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
