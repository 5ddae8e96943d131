"""Config reading is bounded and every bad config is a named error (items 2 and 7 of issue 33).

A YAML alias bomb, a 50 MB file and 20,000 nested brackets are refused by the loader in well under a
second; an impossible date, a list used as a key and deep nesting end in a :class:`ConfigError` naming
the file (and the key), and both CLIs turn each into exit code 2, one ``error:`` line and, in a run
folder that exists, ``failed`` with the message.

The cases that expand or parse for minutes on a loader without bounds run in a forked child with a
time and memory cap, so that on such code they fail instead of hanging or exhausting the machine.
"""

from __future__ import annotations

import io
import os
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from core.hydro import cli as hydro_cli
from core.rain import cli as rain_cli
from core.runs.folder import RunDir
from core.training import config as C
from core.training.config import ConfigError, read_yaml
from tests import training_launch as L

CLIS = {"hydro": hydro_cli.main, "rain": rain_cli.main}


def _in_child(call: Callable[[], object], seconds: float = 8.0, memory: int = 1 << 30) -> tuple[str, str, float]:
    """``call()`` in a forked child limited to ``seconds`` and ``memory`` bytes more than now:
    (``returned <value>``, ``raised <error>`` or ``timeout``; what it wrote to stderr; seconds taken)."""
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"config-bounds-{os.getpid()}-{time.monotonic_ns()}.txt"
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            vm = next(int(line.split()[1]) * 1024 for line in Path("/proc/self/status").read_text().splitlines()
                      if line.startswith("VmSize:"))
            resource.setrlimit(resource.RLIMIT_AS, (vm + memory, resource.getrlimit(resource.RLIMIT_AS)[1]))
            sys.stderr = err = io.StringIO()
            try:
                outcome = f"returned {call()!r}"[:2000]
            except BaseException as exc:  # noqa: BLE001 - reported to the parent, whatever it is
                outcome = f"raised {type(exc).__name__}: {exc}"[:2000]
            out.write_text(outcome + "\n" + err.getvalue())
        finally:
            os._exit(0)
    while True:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - start > seconds:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout", "", time.monotonic() - start
        time.sleep(0.01)
    elapsed = time.monotonic() - start
    text = out.read_text() if out.exists() else "crashed\n"
    out.unlink(missing_ok=True)
    outcome, _, stderr = text.partition("\n")
    return outcome, stderr, elapsed


def _anchors(indent: str, item: str = "{name}: ") -> str:
    """Ten nested anchors: a0 is ten values, each next one ten aliases of the last (10**10 values)."""
    rows = [f"{item.format(name='a0')}&a0 [x, x, x, x, x, x, x, x, x, x]"]
    rows += [f"{item.format(name=f'a{i}')}&a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    return "".join(f"{indent}{row}\n" for row in rows)


def _hydro_text(tmp_path: Path) -> str:
    return L.write_hydro_config(tmp_path / "base.yaml", epochs=1, iterations=1).read_text()


def _rain_text(tmp_path: Path) -> str:
    # the bombs go into data.demo, a mapping the rain schema passes on unchecked
    return L.write_rain_config(tmp_path / "base.yaml", Path("demo"), epochs=1).read_text().replace(
        "data: {source: demo, steps: 3}", "data:\n  source: demo\n  steps: 3\n")


def _bomb(kind: str, where: str, tmp_path: Path) -> Path:
    if kind == "rain":
        text = _rain_text(tmp_path).replace("  steps: 3\n", "  steps: 3\n  demo:\n" + _anchors("    "))
    elif where == "param_ranges":
        text = _hydro_text(tmp_path) + "param_ranges:\n" + _anchors("  ")
    elif where == "overrides.lstm.data":
        text = _hydro_text(tmp_path) + "overrides:\n  lstm:\n    data:\n" + _anchors("      ")
    else:  # the anchors as items of data.basins, the last item *a9
        text = _hydro_text(tmp_path).replace("data:\n", "data:\n  basins:\n" + _anchors("    ", "- ") + "    - *a9\n", 1)
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    return path


# --- the loader -------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["param_ranges", "overrides.lstm.data", "data.basins"])
def test_an_alias_bomb_is_refused_before_it_expands(tmp_path, where):
    bomb = _bomb("hydro", where, tmp_path)
    start = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        read_yaml(bomb)  # without a bound this returns at once, and the expansion comes later
    assert time.perf_counter() - start < 1.0
    message = str(err.value)
    assert message.startswith(f"{bomb}: {where}") and "aliases expand the config to more than 200,000 values" in message


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("param_ranges:\n  a: &a [1, *a]\n")
    with pytest.raises(ConfigError, match=r"loop.yaml: param_ranges.a: line 2: alias \*a repeats a value that contains it"):
        read_yaml(path)


def test_the_value_budget_counts_values_without_aliases_too(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "MAX_CONFIG_VALUES", 50)
    path = tmp_path / "long.yaml"
    path.write_text("data:\n  basins: [" + ", ".join(str(i) for i in range(60)) + "]\n")
    with pytest.raises(ConfigError, match=r"long.yaml: data.basins: line 2: the config holds more than 50 values"):
        read_yaml(path)
    path.write_text("data:\n  basins: [" + ", ".join(str(i) for i in range(40)) + "]\n")
    assert len(read_yaml(path)["data"]["basins"]) == 40


def test_a_50_mb_config_is_refused_without_parsing_it(tmp_path):
    huge = tmp_path / "huge.yaml"
    with huge.open("w") as handle:
        handle.write(_hydro_text(tmp_path))
        handle.write("# padding\n" * 5_000_000)
    outcome, _, seconds = _in_child(lambda: read_yaml(huge))
    assert outcome == f"raised ConfigError: {huge}: the config is 50.0 MB, more than the 1 MB a config may have"
    assert seconds < 2.0


@pytest.mark.parametrize("text", ["model: " + "[" * 20_000, "model:\n" + "- " * 20_000 + "x\n"],
                         ids=["flow", "block"])
def test_deep_nesting_is_a_config_error_not_a_recursion_error(tmp_path, text):
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"deep.yaml: .*(nested more than 32 levels|maximum nesting depth)"):
        read_yaml(path)


def test_an_impossible_date_is_named_by_key_and_value(tmp_path):
    path = tmp_path / "date.yaml"
    path.write_text(_hydro_text(tmp_path).replace("train_period: [1979-01-01,", "train_period: [1979-02-30,"))
    from core.hydro.config import load_config

    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == (f"{path}: data.train_period: item 0: expected a date (YYYY-MM-DD or an ISO date-time), "
                              "got '1979-02-30' (day is out of range for month)")


def test_a_list_as_a_key_is_a_config_error(tmp_path):
    path = tmp_path / "key.yaml"
    path.write_text("train:\n  ? [a, b]\n  : 1\n")
    with pytest.raises(ConfigError, match=r"key.yaml: line 2: a key must be a name or number, got \['a', 'b'\]"):
        read_yaml(path)


# --- through both CLIs: exit 2, one error line, the run folder says failed -----------------------------------


def _case(kind: str, case: str, tmp_path: Path) -> tuple[Path, str]:
    """A config file of ``case`` for ``kind`` and a text its error must contain."""
    text = _hydro_text(tmp_path) if kind == "hydro" else _rain_text(tmp_path)
    path = tmp_path / f"{case}.yaml"
    if case == "bomb":
        return _bomb(kind, "param_ranges", tmp_path), "aliases expand the config"
    if case == "date":
        if kind == "hydro":
            text = text.replace("train_period: [1979-01-01,", "train_period: [1979-02-30,")
            key, value = "data.train_period", "1979-02-30"
        else:
            text = text.replace("split: {train_fraction: 0.6, val_fraction: 0.2}", "split: {test: [2020-02-30, 2020-03-10]}")
            key, value = "split.test", "2020-02-30"
        path.write_text(text)
        return path, f"{key}: item 0: expected a date (YYYY-MM-DD or an ISO date-time), got '{value}' (day is out of range for month)"
    if case == "complex_key":
        path.write_text(text + "? [a, b]\n: 1\n")
        return path, "a key must be a name or number, got ['a', 'b']"
    if case == "deep":
        path.write_text(text + "name: " + "[" * 20_000 + "\n")
        return path, "nest"
    with path.open("w") as handle:  # "huge"
        handle.write(text)
        handle.write("# padding\n" * 5_000_000)
    return path, "the config is 50.0 MB"


@pytest.mark.parametrize("case", ["date", "complex_key", "deep", "bomb", "huge"])
@pytest.mark.parametrize("kind", ["hydro", "rain"])
def test_the_cli_refuses_the_config_by_name(tmp_path, kind, case):
    config, expect = _case(kind, case, tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()  # as the dashboard creates it before starting the worker
    argv = ["train", "--config", str(config), "--run-dir", str(run_dir), "--no-progress"]
    outcome, stderr, seconds = _in_child(lambda: CLIS[kind](argv))
    assert outcome == "returned 2", (outcome, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {config}: ") and expect in lines[0], stderr
    status = RunDir(run_dir).read_status()
    assert status["state"] == "failed" and expect in status["message"]
    assert not (run_dir / "checkpoints").exists()
    assert seconds < 2.0
