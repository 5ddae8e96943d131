"""AppTest: a basin upload whose file name tries to leave the uploads folder writes nothing outside it."""

from __future__ import annotations

import re

import pytest

from tests.app_helpers import assert_clean, errors_of, open_page

pytestmark = pytest.mark.slow

ROWS = "\n".join(f"2001-01-{d:02d},{d % 3}.0,1.5,0.{d}" for d in range(1, 29))
GOOD = ("date,prcp,pet,q_obs\n" + ROWS + "\n").encode()


@pytest.fixture
def roots(tmp_path, monkeypatch):
    runs = tmp_path / "deep" / "runs"
    monkeypatch.setenv("HYDROCAST_RUNS", str(runs))
    monkeypatch.delenv("HYDROCAST_DATA", raising=False)
    return tmp_path, runs


def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".job-"))


@pytest.mark.parametrize("name", ["../../x.csv", "../x.csv", "/abs/x.csv", "..\\..\\x.csv", "uploads/../../x.csv"])
def test_upload_name_cannot_leave_the_uploads_folder(roots, name, tmp_path):
    top, runs = roots
    at = open_page("1_Basins.py")
    at.file_uploader[0].set_value((name, GOOD, "text/csv")).run()
    assert_clean(at)
    assert not errors_of(at), errors_of(at)
    # one folder per upload: uploads/<safe stem>-<hash of the bytes>/<safe name>
    [saved] = files_under(top)
    assert re.fullmatch(r"deep/runs/uploads/x-[0-9a-f]{10}/x\.csv", saved), saved
    assert (top / saved).read_bytes() == GOOD
    assert any(s.value.startswith("x.csv: 1 basin(s)") for s in at.success)
