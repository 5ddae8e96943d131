"""Radar readers (pysteps importers + block means) on the real composites, and their errors."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest

from core.data.errors import DataError
from core.data.radar import load_radar, radar_files

FIRST = "201609281445_fmi.radar.composite.lowest_FIN_SUOMI1.pgm.gz"
FIN = {"lat_range": (59.0, 68.0), "lon_range": (20.0, 32.0)}


@pytest.fixture(scope="module")
def radar_dir(shared_data):
    return shared_data / "radar_fmi_20160928"


@pytest.mark.slow
def test_load_fmi_real_sequence(radar_dir):
    ds = load_radar(radar_dir, **FIN)
    assert ds.sizes["time"] == 80 and ds.attrs["radar_format"] == "fmi_pgm"
    assert str(ds["time"].values[0])[:16] == "2016-09-28T14:45"
    step = np.diff(ds["time"].values[:40])
    assert (step == np.timedelta64(5, "m")).all()  # first event: 40 frames 5 min apart
    assert ds["rain"].dims == ("time", "lat", "lon") and ds["rain"].attrs["units"] == "mm h-1"
    rain = ds["rain"].values
    assert np.isnan(rain).any() and np.nanmax(rain) > 1.0 and np.nanmin(rain) == 0.0
    assert np.all(np.diff(ds["lat"].values) > 0)


@pytest.mark.slow
def test_fmi_block_mean_of_several_pixels(radar_dir, tmp_path):
    """Four valid pixels of different rates in one grid cell, no data elsewhere: the cell holds their mean
    (not the max or the sum), a rate below the noise floor counts as a dry pixel, no-data pixels not at all.

    Each pixel's own cell value is read from a file holding that pixel alone, so the expected mean does
    not depend on the reflectivity-to-rain conversion.
    """
    from core.data.radar import pixel_lonlat, read_frame

    raw = gzip.open(radar_dir / FIRST, "rb").read()
    n = 760 * 1226
    header = raw[: len(raw) - n]
    fmt, _ = radar_files(radar_dir)
    values, meta = read_frame(radar_dir / FIRST, fmt)
    lon, lat = pixel_lonlat(meta, values.shape, radar_dir / FIRST)
    cell = lambda r, c: (int(np.floor((lat[r, c] - 59.0) / 0.1)), int(np.floor((lon[r, c] - 20.0) / 0.2)))  # noqa: E731
    home = cell(600, 380)
    same = [(r, c) for r in range(596, 605) for c in range(376, 385) if cell(r, c) == home and (r, c) != (600, 380)]
    assert len(same) >= 3, "the 1 km pixels around (600, 380) should share its 10 km cell"
    # pixel value v -> dBZ (v - 64) / 2: 20, 30 and 40 dBZ, and 0 dBZ (about 0.03 mm/h: below the floor, dry)
    chosen = list(zip([(600, 380), *same[:3]], (104, 124, 144, 64)))

    def frame(pixels, name):
        fake = np.full(n, 255, dtype=np.uint8)
        for (r, c), v in pixels:
            fake[r * 760 + c] = v
        folder = tmp_path / name
        folder.mkdir()
        (folder / FIRST).write_bytes(gzip.compress(header + fake.tobytes()))
        rain = load_radar(folder, **FIN)["rain"].values[0]
        assert np.isfinite(rain).sum() == 1  # only that cell saw anything
        return float(rain[np.isfinite(rain)][0])

    alone = [frame([p], f"one{k}") for k, p in enumerate(chosen)]
    assert alone[3] == 0.0 and alone[0] < alone[1] < alone[2]
    together = frame(chosen, "four")
    assert together == pytest.approx(np.mean(alone), rel=1e-5)
    assert together < max(alone) and together < sum(alone)


def test_fmi_block_mean_equals_hand_computation(radar_dir, tmp_path):
    """One frame copied by hand: a single valid pixel value in an otherwise no-data image."""
    raw = gzip.open(radar_dir / FIRST, "rb").read()
    n = 760 * 1226
    header, pixels = raw[: len(raw) - n], np.frombuffer(raw[len(raw) - n :], dtype=np.uint8).copy()
    fake = np.full_like(pixels, 255)
    fake[600 * 760 + 380] = 124  # (124 - 64) / 2 = 30 dBZ -> Z = 1000 -> R = (1000/223)^(1/1.53) mm/h
    (tmp_path / FIRST).write_bytes(gzip.compress(header + fake.tobytes()))
    rain = load_radar(tmp_path, **FIN)["rain"].values[0]
    assert np.isfinite(rain).sum() == 1
    assert np.nanmax(rain) == pytest.approx((1000 / 223) ** (1 / 1.53), rel=1e-5)


@pytest.mark.slow
def test_mch_event_subfolders_form_one_source_with_a_gap(shared_data):
    folder = shared_data / "radar_mch"
    fmt, files = radar_files(folder)
    assert fmt.name == "mch_gif" and len(files) == 80
    ds = load_radar(folder, resolution_deg=(0.1, 0.15), start="2015-05-15T15:45", end="2016-07-11T21:00")
    t = ds["time"].values
    assert str(t[0])[:16] == "2015-05-15T15:45" and str(t[-1])[:16] == "2016-07-11T21:00"
    assert ds.sizes["time"] == 44 and (np.diff(t[:40]) == np.timedelta64(5, "m")).all()
    assert np.diff(t)[39] > np.timedelta64(1, "D")  # the gap between the two events
    rain = ds["rain"].values
    assert np.nanmin(rain) == 0.0 and 5.0 < np.nanmax(rain) < 300.0  # mm/h, not mm per 5 min
    assert 45.5 < float(ds["lat"].mean()) < 47.5 and 6.5 < float(ds["lon"].mean()) < 8.5  # over Switzerland


def test_mch_rate_is_twelve_times_the_5_minute_accumulation(shared_data, tmp_path):
    from pysteps.io.importers import import_mch_gif

    src = sorted((shared_data / "radar_mch" / "20150515").glob("*.gif"))[20]
    shutil.copy(src, tmp_path / src.name)
    acc, _, _ = import_mch_gif(str(src), product="AQC", unit="mm", accutime=5.0)
    ds = load_radar(tmp_path, resolution_deg=(0.1, 0.15), min_rain_mm_h=0.0)
    assert np.nansum(ds["rain"].values) > 0
    # the domain mean of the block means weights blocks equally; compare the maxima instead
    assert np.nanmax(ds["rain"].values) <= 12.0 * np.nanmax(acc) + 1e-6
    assert np.nanmax(ds["rain"].values) > 0.2 * 12.0 * np.nanmax(acc)


@pytest.mark.slow
def test_bom_netcdf_ten_minute_steps(shared_data, tmp_path):
    files = sorted((shared_data / "radar_bom_20201031").glob("*.nc"))[60:63]
    for f in files:
        shutil.copy(f, tmp_path / f.name)
    ds = load_radar(tmp_path, resolution_deg=(0.05, 0.05))
    assert ds.attrs["radar_format"] == "bom_rf3" and ds.attrs["time_step_seconds"] == 600
    assert -29.0 < float(ds["lat"].mean()) < -26.5 and 152.0 < float(ds["lon"].mean()) < 154.5  # Brisbane
    assert np.nanmin(ds["rain"].values) == 0.0


def test_malformed_files_are_named(tmp_path, radar_dir):
    (tmp_path / FIRST).write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=FIRST):
        load_radar(tmp_path)
    other = tmp_path / "other"
    (other / "event1").mkdir(parents=True)
    (other / "event1" / "notes.txt").write_text("no radar here")
    with pytest.raises(DataError, match="no composite file of a known format"):
        load_radar(other)
    with pytest.raises(DataError, match="does not exist"):
        load_radar(tmp_path / "missing")
    with pytest.raises(DataError, match="no frame between"):
        load_radar(radar_dir, start="2020-01-01")
