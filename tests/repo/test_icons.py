"""Navigation and page icons are Streamlit's bundled Material icons: emoji draw as empty boxes in a
browser without an emoji font (a plain Debian Chromium), where the dashboard's demos run."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _icons() -> list[tuple[str, str]]:
    found = []
    for path in [REPO / "app.py", *sorted((REPO / "pages").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "setup_page":
                found += [(path.name, a.value) for a in node.args[1:2] if isinstance(a, ast.Constant)]
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "PAGES" for t in node.targets):
                found += [(path.name, row.elts[2].value) for row in node.value.elts]
    return found


def test_every_page_icon_is_a_material_icon():
    icons = _icons()
    assert len(icons) >= 16, icons  # app.py's 8 navigation entries and the 8 pages' own
    assert all(icon.startswith(":material/") and icon.endswith(":") for _, icon in icons), icons
