"""The main path through the real command lines, as subprocesses on a tiny demo dataset:

demo data -> ``scripts/data_normalization.sh`` -> pre-training -> training from the pre-trained front-end ->
``automix.evaluate`` (baseline + the trained model) -> ``automix.inference`` of one test song.

Every stage is the user's CLI (no mocks, real files); the runs are shrunk with ``--set`` so the test takes about a
minute on 2 cores. The checks are on what a user reads: the files, finite and sensible numbers, an audible mix.
"""
import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

REPO_ROOT = Path(__file__).resolve().parents[1]
SECONDS = 2
SHRINK = ["--set", "NUM_MINIBATCHES_PER_EPOCH=2", "--set", "BATCH_SIZE=2", "--set", "LEARNING_RATES=[(1, 1e-3)]",
          "--set", "TRAINING_SEQ_LENGTH=16384", "--set", "MAX_VALIDATION_SEQ_LENGTH_TD=88192", "--no-progress"]


def _run(args, cwd=REPO_ROOT, env=None):
    result = subprocess.run(args, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def _train(config, results, suffix, data, extra=()):
    _run([sys.executable, "-m", "automix.train", f"configs/demo/{config}.py", "--results-folder", str(results),
          "--folder-suffix", suffix, "--data-dir", str(data / "wet"), "--ir-dir", str(data / "irs" / "reverb"),
          "--seed", "3", *SHRINK, *extra])
    run = results / "results" / suffix
    for name in ("current_model_for_mixture.params", "training.log", "history.csv", "config.json"):
        assert (run / name).is_file(), f"{run / name} missing"
    with open(run / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2  # the lr-0 warm-up epoch + one epoch
    for row in rows:
        losses = [float(v) for k, v in row.items() if "loss" in k and v not in ("", None)]
        assert losses and all(math.isfinite(v) and v > 0 for v in losses), row
    return run


def test_main_path_through_the_clis(tmp_path):
    data = tmp_path / "demo"
    _run([sys.executable, "-m", "automix.demo", "--out", str(data), "--train", "2", "--val", "1", "--test", "1",
          "--seconds", str(SECONDS), "--seed", "3"])
    features = tmp_path / "features.npz"
    _run(["bash", str(REPO_ROOT / "scripts" / "data_normalization.sh")], cwd=tmp_path,
         env={"AUTOMIX_PYTHON": sys.executable, "AUTOMIX_DATA_DIR": str(data / "wet"),
              "AUTOMIX_IR_DIR": str(data / "irs" / "reverb"), "AUTOMIX_FEATURES": str(features),
              "AUTOMIX_NORM_ARGS": "--workers 1 --seed 3"})
    assert features.is_file()

    results = tmp_path / "training"
    pre = _train("ours_demo_pretrained", results, "pre", data)
    mixer = _train("ours_demo_La", results, "mix", data,
                   ["--weight-initialization", str(pre / "current_model_for_mixture.params")])

    evaluation = tmp_path / "evaluation"
    _run([sys.executable, "-m", "automix.evaluate", "--input-folder", str(data / "wet" / "test"),
          "--output-folder", str(evaluation), "--features", str(features),
          "--impulse-responses", str(data / "irs" / "reverb"), "--system", f"ours={mixer}", "--quiet"])
    for name in ("metrics.csv", "summary.json", "report.html", "report_files/metric_bars.png"):
        assert (evaluation / name).is_file(), name
    systems = json.loads((evaluation / "summary.json").read_text())["systems"]
    assert set(systems) == {"baseline", "ours"}
    for name, metrics in systems.items():
        for key in ("stereo_loss", "lufs_abs_lu", "centroid_abs_hz", "pan_t_abs", "rms_abs_db", "crest_abs"):
            value = metrics[key]["mean"]
            assert math.isfinite(value) and value >= 0, (name, key, value)
        assert metrics["stereo_loss"]["mean"] > 0
        assert metrics["lufs_abs_lu"]["mean"] < 30 and metrics["pan_t_abs"]["mean"] <= 1
    with open(evaluation / "metrics.csv", newline="") as f:
        assert {row["system"] for row in csv.DictReader(f)} == {"baseline", "ours"}

    song = next(p for p in sorted((data / "wet" / "test").iterdir()) if p.is_dir())
    output = tmp_path / "mix.wav"
    stems = [a for stem in ("vocals", "bass", "drums", "other") for a in (f"--{stem}", str(song / f"{stem}.wav"))]
    _run([sys.executable, "-m", "automix.inference", "--results", str(mixer), "--features", str(features),
          "--impulse-responses", str(data / "irs" / "reverb"), *stems, "--output", str(output), "--quiet"])
    x, rate = sf.read(str(output), dtype="float32")
    assert rate == 44100 and x.shape == (sf.info(str(song / "mixture.wav")).frames, 2)
    assert x.shape[0] == SECONDS * 44100
    assert np.all(np.isfinite(x)) and np.max(np.abs(x)) <= 1.0
    assert np.sqrt(np.mean(x**2)) > 1e-3, "the mix is (near) silent"
