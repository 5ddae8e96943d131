"""Launch the training CLIs as real processes for the distributed and resume tests, and inspect runs.

Imported by ``tests/training/test_distributed.py`` and ``tests/training/test_resume.py``; also run as a script, in which
case it installs the fault hooks below and then runs ``python -m core <args>`` unchanged::

    python tests/training_launch.py hydro train --config C --run-dir D
    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/training_launch.py hydro train ...

Without ``HC_*`` variables the script is exactly ``python -m core``.

Fault hooks (environment variables, read by the script only; ``HC_KILL_RANK`` limits them to one rank):

``HC_KILL_AT_STEP=k``      SIGKILL this process right after its k-th optimiser step.
``HC_KILL_IN_SAVE=n``      the n-th ``torch.save`` into a file whose name contains ``HC_KILL_SAVE_MATCH``
                           (default ``last``) writes the first half of its bytes, then SIGKILLs the
                           process: a kill in the middle of a checkpoint write.
``HC_MARKER=path``         before a hooked kill, write what was being done there (JSON); while that
                           file exists the kill hooks stay off (a restarted worker is not killed again).
``HC_STEP_COUNT=path``     at a normal exit, write the number of optimiser steps to ``path.<rank>``.
``HC_THREADS_AT_EXIT=path`` at a normal exit, write the names of the process's native threads (Linux
                           ``/proc/self/task/*/comm``, JSON list) to ``path.<rank>``: what is still
                           running when the interpreter tears down.
``HC_WATCH_WRITES=dir``    on ranks other than 0, record every file opened for writing, replaced or
                           created under ``dir`` into ``HC_WATCH_REPORT.<rank>`` (JSON list) at exit.

SIGKILL cannot be caught, so a hooked kill leaves the process exactly as an outside ``kill -9``
would; the hooks only choose the moment deterministically.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from core.runs.folder import RunDir  # noqa: F401  (the run-folder reader the tests share)

REPO_ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
TORCHRUN_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR",
                 "MASTER_PORT", "TORCHELASTIC_RUN_ID", "ROLE_RANK", "ROLE_WORLD_SIZE")


# --- launching ---------------------------------------------------------------------------------


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a training child: one thread, the repo importable, no inherited torchrun state."""
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS and not k.startswith("HC_")}
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update({k: str(v) for k, v in (extra or {}).items()})
    return env


def command(args: list[str], nproc: int = 1, torchrun: tuple[str, ...] = ()) -> list[str]:
    """``python -m core ARGS`` through this script (hooks), under ``torch.distributed.run`` when ``nproc`` > 1
    (with the extra launcher options ``torchrun``)."""
    target = [str(Path(__file__).resolve())]
    if nproc == 1:
        return [PYTHON, *target, *args]
    # --standalone: a local rendezvous on a port torchrun picks itself, so concurrent launches never collide
    return [PYTHON, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *torchrun,
            *target, *args]


def start_cli(args: list[str], nproc: int = 1, env: Mapping[str, str] | None = None,
              torchrun: tuple[str, ...] = ()) -> subprocess.Popen:
    """Start the CLI in the repo root, in its own session (so a timeout can kill torchrun and its workers)."""
    return subprocess.Popen(command(args, nproc, torchrun), cwd=REPO_ROOT, env=child_env(env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = 300) -> subprocess.CompletedProcess:
    """Wait for a process of :func:`start_cli`; on a timeout kill its whole process group and fail."""
    import signal

    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"{' '.join(proc.args)} still running after {timeout} s\n{out[-2000:]}\n{err[-4000:]}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_cli(args: list[str], nproc: int = 1, env: Mapping[str, str] | None = None,
            torchrun: tuple[str, ...] = (), timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the CLI to completion (or death); output captured for failure messages."""
    return finish(start_cli(args, nproc, env, torchrun), timeout)


def explain(proc: subprocess.CompletedProcess) -> str:
    """The tail of a finished process's output, for assertion messages."""
    return f"exit code {proc.returncode}\ncommand: {' '.join(proc.args)}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-6000:]}"


# --- tiny configs and data ------------------------------------------------------------------------


def write_hydro_config(path: Path, epochs: int, iterations: int, batch_size: int = 8, seed: int = 7) -> Path:
    """A dXAJ config on the embedded demo basin small enough for a test (reference physics: no JIT wait).

    The loss is MSE over equally sized per-rank batches, so averaging the ranks' gradients (DDP) gives
    exactly the single-process gradient; dropout is off.
    """
    text = f"""
name: test-tiny
model: dpl
baselines: []
data:
  source: demo
  train_period: [1979-01-01, 1980-12-31]
  valid_fraction: 0.2
  test_period: [1981-01-01, 1981-06-30]
  dynamic_inputs: [prcp, pet]
window: {{warmup: 30, rho: 30, horizon: 1, stride: 1}}
model_args: {{hidden: 8, dropout: 0.0, strategy: last}}
xaj: {{uh_length: 15, backend: reference}}
train:
  epochs: {epochs}
  batch_size: {batch_size}
  iterations_per_epoch: {iterations}
  optimizer: adamw
  lr: 0.01
  loss: mse
  patience: 0
  seed: {seed}
  device: cpu
  num_threads: 1
evaluate: {{batch_size: 256}}
"""
    path.write_text(text, encoding="utf-8")
    return path


def write_rain_data(path: Path, n_time: int = 70, seed: int = 3) -> Path:
    """A small 12-hourly gridded world: 2 pressure levels of temperature plus rain blobs moving east.

    ``[time 70, level 2, lat 8, lon 16]``; region 1 is the eastern half, region 2 the western half.
    """
    import numpy as np
    import pandas as pd
    import xarray as xr

    rng = np.random.default_rng(seed)
    ny, nx = 8, 16
    yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    rain = np.zeros((n_time, ny, nx), np.float32)
    for t in range(n_time):
        for cell in range(2):
            cx = (1.5 * t + 7 * cell + rng.normal()) % nx
            cy = rng.uniform(0, ny)
            rain[t] += rng.uniform(0, 20) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 4)
    temperature = (280 + rng.normal(size=(n_time, 2, ny, nx))).astype(np.float32)
    ds = xr.Dataset(
        {"rain": (("time", "lat", "lon"), rain, {"units": "mm per 12 h"}),
         "temperature": (("time", "level", "lat", "lon"), temperature, {"units": "K"})},
        coords={"time": pd.date_range("2020-01-01", periods=n_time, freq="12h"), "level": [850.0, 500.0],
                "lat": np.linspace(40, 43.5, ny), "lon": np.linspace(0, 7.5, nx)},
    )
    ds.to_netcdf(path)
    return path


def write_rain_config(path: Path, data: Path, epochs: int, batch_size: int = 4, seed: int = 5) -> Path:
    """An ST-RainNet config (both experiments) on :func:`write_rain_data`'s file; float32, no early stop."""
    text = f"""
seed: {seed}
data: {{source: {data}, steps: 3}}
regions:
  region1: {{lat: [40, 43.5], lon: [4, 7.5]}}
  upstream_side: west
split: {{train_fraction: 0.6, val_fraction: 0.2}}
experiments: [exp1, exp2]
model: {{hidden_channels: [4, 4], kernel_size: 3}}
train: {{epochs: {epochs}, batch_size: {batch_size}, lr: 0.005, amp: false, channels_last: false, patience: 0, device: cpu}}
evaluate: {{n_boot: 50, fss_scales: [1, 3]}}
"""
    path.write_text(text, encoding="utf-8")
    return path


def train_args(kind: str, config: Path, run_dir: Path, resume: bool = False) -> list[str]:
    return [kind, "train", "--config", str(config), "--run-dir", str(run_dir), "--no-progress"] + (
        ["--resume"] if resume else [])


# --- reference runs shared by the test files ------------------------------------------------------

HYDRO_EPOCHS, HYDRO_ITERATIONS = 3, 2  # 6 optimiser steps of 8 windows
RAIN_EPOCHS = 2  # 2 experiments x 2 epochs x 10 steps of 4 samples


def configs(root: Path) -> dict[str, Path]:
    """The tiny hydro and rain configs (and the rain data file) under ``root``, written once."""
    folder = root / "configs"
    paths = {"hydro": folder / "hydro_tiny.yaml", "rain": folder / "rain_tiny.yaml"}
    if not paths["rain"].exists():
        folder.mkdir(parents=True, exist_ok=True)
        write_hydro_config(paths["hydro"], HYDRO_EPOCHS, HYDRO_ITERATIONS)
        data = write_rain_data(folder / "rain_tiny.nc")
        write_rain_config(paths["rain"], data, RAIN_EPOCHS)
    return paths


@dataclass
class Reference:
    """An uninterrupted training run: its directory, config, optimiser steps per rank and process."""

    kind: str
    nproc: int
    run_dir: Path
    config: Path
    steps: int
    watch: list[str]
    threads_at_exit: list[list[str]]  # per rank: native threads alive when the interpreter tore down
    proc: subprocess.CompletedProcess
    seconds: float

    def args(self, run_dir: Path | None = None, resume: bool = False) -> list[str]:
        return train_args(self.kind, self.config, run_dir or self.run_dir, resume)


_REFERENCES: dict[tuple[str, int, Path], Reference] = {}


def references(root: Path, wanted: list[tuple[str, int]]) -> list[Reference]:
    """Uninterrupted runs ``(kind, nproc)``, trained once per test session (both test files share them).

    Missing ones are launched side by side (they are independent), through this script's hooks: they
    count optimiser steps and, on ranks > 0, watch for any write into the run directory.
    """
    started = {}
    for kind, nproc in wanted:
        key = (kind, nproc, root)
        if key in _REFERENCES or key in started:
            continue
        config = configs(root)[kind]
        run_dir = root / f"reference-{kind}-{nproc}proc"
        logs = root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        count, watch = logs / f"{kind}-{nproc}.steps", logs / f"{kind}-{nproc}.watch"
        threads = logs / f"{kind}-{nproc}.threads"
        proc = start_cli(train_args(kind, config, run_dir), nproc=nproc,
                         env={"HC_STEP_COUNT": count, "HC_WATCH_WRITES": run_dir, "HC_WATCH_REPORT": watch,
                              "HC_THREADS_AT_EXIT": threads})
        started[key] = (proc, config, run_dir, count, watch, threads, time.monotonic())
    for (kind, nproc, _), (proc, config, run_dir, count, watch, threads, start) in started.items():
        done = finish(proc)
        assert done.returncode == 0, explain(done)
        # the hooks write at exit; an exception there is printed, not returned, so show the output
        missing = [f"{f}.{r}" for f in (count, threads) for r in range(nproc) if not Path(f"{f}.{r}").exists()]
        assert not missing, f"at-exit files not written: {missing}\n{explain(done)}"
        steps = {int(Path(f"{count}.{r}").read_text()) for r in range(nproc)}
        assert len(steps) == 1, f"ranks took different numbers of optimiser steps: {steps}"
        seen = []
        for r in range(1, nproc):
            seen += json.loads(Path(f"{watch}.{r}").read_text())
        at_exit = [json.loads(Path(f"{threads}.{r}").read_text()) for r in range(nproc)]
        _REFERENCES[(kind, nproc, root)] = Reference(kind, nproc, run_dir, config, steps.pop(), seen, at_exit, done,
                                                     time.monotonic() - start)
    return [_REFERENCES[(kind, nproc, root)] for kind, nproc in wanted]


def reference(kind: str, root: Path, nproc: int = 1) -> Reference:
    """One run of :func:`references`."""
    return references(root, [(kind, nproc)])[0]


# --- inspecting runs --------------------------------------------------------------------------------


def load_checkpoint(path: Path) -> dict:
    from core.training.checkpoint import load_checkpoint as load

    return load(path)


def temp_files(run_dir: Path) -> list[Path]:
    """Leftovers of interrupted atomic writes (``.<name>.<random><suffix>`` beside their target); the
    run-directory lock ``.lock`` (``core.runs.lock``) is meant to stay."""
    return sorted(p for p in run_dir.rglob(".*") if p.is_file() and p.name != ".lock")


def check_run_dir(run_dir: Path) -> dict[str, Any]:
    """Assert that a run directory is not corrupted, whatever moment its writer died.

    Every JSON file parses, ``config.yaml`` parses, every checkpoint (``checkpoints/*.pt`` not starting
    with a dot) loads and holds a model, ``predictions.nc`` (if any) opens. Temp files of interrupted
    writes may remain, but only under dot-names that no reader takes for a checkpoint. Returns
    ``{"checkpoints": {name: epoch}, "temp": [names]}``.
    """
    import xarray as xr
    import yaml

    assert run_dir.is_dir(), f"run directory {run_dir} missing"
    for path in run_dir.rglob("*.json"):
        if not path.name.startswith("."):
            json.loads(path.read_text(encoding="utf-8"))  # raises with the file's name in the traceback
    for path in run_dir.rglob("config.yaml"):
        assert isinstance(yaml.safe_load(path.read_text(encoding="utf-8")), dict), f"{path} is not a mapping"
    epochs = {}
    for path in sorted(run_dir.rglob("*.pt")):
        if path.name.startswith("."):
            continue
        try:
            ckpt = load_checkpoint(path)
        except Exception as exc:  # pragma: no cover - the failure this function exists to report
            raise AssertionError(f"checkpoint {path} does not load: {exc}") from exc
        assert "model" in ckpt and "epoch" in ckpt, f"checkpoint {path} lacks model/epoch: {sorted(ckpt)}"
        epochs[str(path.relative_to(run_dir))] = int(ckpt["epoch"])
    for path in run_dir.rglob("predictions.nc"):
        with xr.open_dataset(path) as ds:
            assert ds.data_vars, f"{path} holds no variables"
    return {"checkpoints": epochs, "temp": [str(p.relative_to(run_dir)) for p in temp_files(run_dir)]}


def numbers(tree: Any, prefix: str = "") -> dict[str, float | None]:
    """Flatten the numbers of a JSON tree into ``{"a.b.c": value}`` (``None`` kept: JSON's NaN)."""
    out: dict[str, float | None] = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.update(numbers(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out.update(numbers(v, f"{prefix}[{i}]"))
    elif tree is None or (isinstance(tree, (int, float)) and not isinstance(tree, bool)):
        out[prefix] = tree
    return out


def assert_same_numbers(a: Any, b: Any, rel: float, what: str, skip: tuple[str, ...] = ()) -> int:
    """Every number of JSON tree ``a`` equals the one at the same place in ``b`` to ``rel``; returns the count."""
    na, nb = numbers(a), numbers(b)
    keys = [k for k in na if not any(s in k for s in skip)]
    assert set(keys) == {k for k in nb if not any(s in k for s in skip)}, (
        f"{what}: different keys {sorted(set(keys) ^ set(nb))}")
    for k in keys:
        x, y = na[k], nb[k]
        if x is None or y is None:
            assert x is None and y is None, f"{what}: {k} is {x} vs {y}"
            continue
        assert math.isclose(x, y, rel_tol=rel, abs_tol=rel * 1e-3), f"{what}: {k} differs: {x!r} vs {y!r}"
    return len(keys)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


# --- the fault hooks (script mode) ---------------------------------------------------------------


def _install_hooks() -> None:
    import atexit
    import io
    import signal

    import torch

    rank = int(os.environ.get("RANK", "0"))
    only = os.environ.get("HC_KILL_RANK")
    marker = os.environ.get("HC_MARKER")
    # one kill per marker: workers that torchrun restarts (--max-restarts) find it and run undisturbed
    armed = (only is None or int(only) == rank) and not (marker and Path(marker).exists())

    def die(what: dict) -> None:
        if marker:
            Path(marker).write_text(json.dumps({**what, "rank": rank, "pid": os.getpid()}), encoding="utf-8")
        os.kill(os.getpid(), signal.SIGKILL)

    steps = [0]
    kill_step = int(os.environ.get("HC_KILL_AT_STEP", "0")) if armed else 0

    def after_step(optimizer, args, kwargs) -> None:  # noqa: ANN001 - torch hook signature
        steps[0] += 1
        if kill_step and steps[0] == kill_step:
            die({"event": "step", "step": steps[0]})

    from torch.optim.optimizer import register_optimizer_step_post_hook

    register_optimizer_step_post_hook(after_step)
    count_file = os.environ.get("HC_STEP_COUNT")
    if count_file:
        atexit.register(lambda: Path(f"{count_file}.{rank}").write_text(str(steps[0]), encoding="utf-8"))
    threads_file = os.environ.get("HC_THREADS_AT_EXIT")
    if threads_file:
        atexit.register(lambda: Path(f"{threads_file}.{rank}").write_text(json.dumps(native_threads()), encoding="utf-8"))

    kill_save = int(os.environ.get("HC_KILL_IN_SAVE", "0")) if armed else 0
    if kill_save:
        match = os.environ.get("HC_KILL_SAVE_MATCH", "last")
        original_save = torch.save
        saves = [0]

        def save(obj, f, *args, **kwargs):  # noqa: ANN001 - torch.save signature
            if isinstance(f, (str, os.PathLike)) and match in Path(f).name:
                saves[0] += 1
                if saves[0] == kill_save:
                    buffer = io.BytesIO()
                    original_save(obj, buffer, *args, **kwargs)
                    data = buffer.getvalue()
                    with open(f, "wb") as fh:
                        fh.write(data[: len(data) // 2])
                        fh.flush()
                        os.fsync(fh.fileno())
                    die({"event": "save", "file": str(f), "bytes_written": len(data) // 2, "bytes_total": len(data)})
            return original_save(obj, f, *args, **kwargs)

        torch.save = save

    watch = os.environ.get("HC_WATCH_WRITES")
    if watch and rank != 0:
        _watch_writes(Path(watch).resolve(), Path(f"{os.environ['HC_WATCH_REPORT']}.{rank}"))


def native_threads() -> list[str]:
    """Names of this process's native threads (empty where ``/proc`` is missing).

    A thread that ends between the listing and the read of its name is left out: it was finishing, not
    left running (its ``comm`` then raises ``FileNotFoundError`` or ``ProcessLookupError``).
    """
    names = []
    for comm in Path("/proc/self/task").glob("*/comm"):
        try:
            names.append(comm.read_text(encoding="utf-8").strip())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return sorted(names)


def _watch_writes(root: Path, report: Path) -> None:
    """Record writes under ``root`` by this (non-zero) rank: open for writing, replace/rename, mkdir."""
    import atexit
    import builtins

    seen: list[str] = []

    def inside(p) -> bool:  # noqa: ANN001
        try:
            return root in Path(os.fspath(p)).resolve().parents or Path(os.fspath(p)).resolve() == root
        except TypeError:
            return False

    real_open, real_replace, real_mkdir, real_os_open = builtins.open, os.replace, os.mkdir, os.open

    def open_(file, mode="r", *a, **k):  # noqa: ANN001
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+") and inside(file):
            seen.append(f"open({file}, {mode})")
        return real_open(file, mode, *a, **k)

    def os_open(path, flags, *a, **k):  # noqa: ANN001
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(path):
            seen.append(f"os.open({path})")
        return real_os_open(path, flags, *a, **k)

    def replace(src, dst, *a, **k):  # noqa: ANN001
        if inside(dst):
            seen.append(f"replace({dst})")
        return real_replace(src, dst, *a, **k)

    def mkdir(path, *a, **k):  # noqa: ANN001
        if inside(path) and not Path(os.fspath(path)).exists():
            seen.append(f"mkdir({path})")
        return real_mkdir(path, *a, **k)

    builtins.open, os.open, os.replace, os.mkdir = open_, os_open, replace, mkdir
    atexit.register(lambda: report.write_text(json.dumps(seen), encoding="utf-8"))


def main() -> None:
    import runpy

    _install_hooks()
    sys.argv = ["python -m core", *sys.argv[1:]]
    runpy.run_module("core", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
