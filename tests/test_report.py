"""The evaluation report: files, statistics, and the page opened in a real headless Chromium."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from automix.evaluation import metrics as M
from automix.evaluation import report as R
from automix.evaluation import summary as S

SR = 44100


def _build_report(folder: Path, seconds=3.0):
    rng = np.random.default_rng(0)
    rows, per_song, media = [], {}, {}
    for song in ("song_a", "song_b"):
        reference = (0.2 * rng.standard_normal((int(seconds * SR), 2))).astype(np.float32)
        mixes = {"baseline": reference * 0.5, "ours": reference * np.array([0.9, 0.6], dtype=np.float32)}
        per_song[song] = {}
        for system, mix in mixes.items():
            values, _ = M.all_metrics(reference, mix)
            per_song[song][system] = values
            rows += [S.Row(song, system, k, v) for k, v in values.items()]
        media[song] = {"plots": R.plot_song(folder, song, reference, mixes),
                       "audio": R.write_excerpts(folder, song, reference, mixes)}
    summary = S.summarize(rows, seed=0)
    S.write_metrics_csv(folder / "metrics.csv", rows)
    S.write_summary_json(folder / "summary.json", summary, 0, 2000)
    return R.write_report(folder, summary, per_song, media), rows


def test_bootstrap_interval_is_seeded_and_brackets_the_mean():
    values = np.random.default_rng(3).normal(5.0, 1.0, 40)
    first, second = S.bootstrap_interval(values, seed=1), S.bootstrap_interval(values, seed=1)
    assert first == second
    assert first[0] < values.mean() < first[1]
    assert S.bootstrap_interval([2.0], seed=0) == [2.0, 2.0]


def test_report_files_and_tidy_csv(tmp_path):
    page, rows = _build_report(tmp_path)
    assert S.read_metrics_csv(tmp_path / "metrics.csv") == sorted(rows)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["bootstrap"]["seed"] == 0
    assert summary["systems"]["ours"]["lufs_abs_lu"]["n"] == 2
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # works offline
    for ref in ("report_files/metric_bars.png", "report_files/song_a/spectrum.png", "report_files/song_b/ours.wav"):
        assert ref in text and (tmp_path / ref).is_file()
    assert not list(tmp_path.rglob(".*.tmp*"))


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--virtual-time-budget=20000"]


def test_report_page_in_a_real_browser(tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium on this machine (Debian package `chromium`; .ci/run installs it)")
    page, _ = _build_report(tmp_path / "report")
    common = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    marker = 'data-media-check="'
    assert marker in dom, "the page's media check did not run"
    check = json.loads(dom.split(marker, 1)[1].split('"', 1)[0].replace("&quot;", '"'))
    assert check["errors"] == []
    assert check["images"] == check["imagesDecoded"] == 5  # bars + 2 plots x 2 songs
    assert check["audio"] == check["audioLoaded"] == 6  # reference + 2 systems x 2 songs
    assert check["durations"] == pytest.approx([3.0] * 6, abs=0.01)
    shot_dir = Path(os.environ.get("AUTOMIX_TEST_ARTIFACTS", tmp_path))
    shot_dir.mkdir(parents=True, exist_ok=True)
    shot = shot_dir / "report_screenshot.png"
    subprocess.run([*common, "--window-size=1280,1600", f"--screenshot={shot}", page.as_uri()], capture_output=True,
                   timeout=120)
    assert shot.is_file() and shot.stat().st_size > 10_000
    print(f"screenshot of the report page: {shot}")
