"""The documentation stays inside the repository and in step with the code.

- No tracked file cites the design notes that used to live outside the repository (``DESIGN.md``);
  the design is ``docs/design.md`` and is cited by section heading.
- ``docs/configuration.md`` is what ``scripts/build_config_docs.py`` renders from the key tables today.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve().relative_to(REPO).as_posix()
OLD_DESIGN = b"DESIGN.md"


def _tracked_files() -> list[str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    result = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"not a git checkout: {result.stderr.decode(errors='replace').strip()}")
    return [name for name in result.stdout.decode().split("\0") if name]


def test_no_tracked_file_cites_the_outside_design_notes():
    offenders = []
    for name in _tracked_files():
        path = REPO / name
        if name == THIS or not path.is_file():
            continue
        data = path.read_bytes()
        if OLD_DESIGN in data:
            lines = [i + 1 for i, line in enumerate(data.split(b"\n")) if OLD_DESIGN in line]
            offenders.append(f"{name}: line {', '.join(map(str, lines))}")
    assert not offenders, (
        "cite docs/design.md and its section heading (e.g. 'docs/design.md, 4.5 Routing') instead of "
        "DESIGN.md in:\n  " + "\n  ".join(offenders))


def _build_config_docs():
    spec = importlib.util.spec_from_file_location("build_config_docs", REPO / "scripts" / "build_config_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_reference_is_current():
    builder = _build_config_docs()
    committed = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    if builder.render() != committed:
        pytest.fail("docs/configuration.md is stale: run python scripts/build_config_docs.py", pytrace=False)


def test_configuration_reference_lists_every_key():
    builder = _build_config_docs()
    text = builder.render()
    for schema in (builder.hydro_schema(), builder.rain_schema()):
        for key in schema.keys:
            assert f"| `{key.path}` |" in text, f"{schema.kind} key {key.path} missing from the rendered page"
