"""End to end through the real command lines: demo data -> two-pass normalization script -> a network mixes it.

Runs the CLIs as a user would (subprocesses, real files), on a tiny demo dataset.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from automix import audio
from automix.dataset import STEMS, discover_songs, load_stems

REPO_ROOT = Path(__file__).resolve().parents[1]


def _run(args, env=None):
    result = subprocess.run(args, cwd=REPO_ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def test_demo_data_then_normalization_script_then_mix(tmp_path):
    data = tmp_path / "demo"
    out = _run([sys.executable, "-m", "automix.cli", "demo-data", "--out", str(data), "--train", "2", "--val", "1",
                "--test", "1", "--seconds", "4", "--seed", "3"])
    assert "train: 2 songs" in out
    features = tmp_path / "features.npz"
    # the script is run from another directory, with paths from environment variables
    out = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "data_normalization.sh")], cwd=tmp_path,
                         env={**os.environ, "AUTOMIX_PYTHON": sys.executable, "AUTOMIX_DATA_DIR": str(data / "wet"),
                              "AUTOMIX_IR_DIR": str(data / "irs" / "reverb"), "AUTOMIX_FEATURES": str(features),
                              "AUTOMIX_NORM_ARGS": "--workers 1 --seed 3"},
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert features.is_file()
    for split, n_songs in (("train", 2), ("val", 1)):
        songs = discover_songs(data / "wet" / split, suffix="normalized", require_mixture=True)
        assert len(songs) == n_songs
        for song in songs:
            report = json.loads((song.path / "normalization_normalized.json").read_text())
            assert report["song"] == song.name and set(report["stems"]) == set(STEMS)
            for stem in STEMS:
                entry = report["stems"][stem]
                assert entry["status"] == "normalized"
                assert {"eq", "compression", "panning", "loudness"} <= set(entry)
            assert "ir" in report["stems"]["vocals"]["reverb"]  # the second pass adds the reverb send
    assert discover_songs(data / "wet" / "test", suffix="normalized") == []  # the test split is left alone

    # the normalized stems of a song go through the network (seeded init) and come out as a finite stereo mix
    from automix.mixing import mix
    from automix.models import build_model

    config = {"NET_TYPE": "CAFX_TDCN_MIX", "N_FEATURES_ENCODER": 128, "KERNEL_SIZE_ENCODER": 64, "MAX_POOLING": 64,
              "N_FEATURES_SEPARATION_MODULE": 256, "N_FEATURES_OUT": 64, "N_FEATURES_TB": 128, "KERNEL_SIZE_TB": 3,
              "N_TB_PER_REPEAT": 6, "N_REPEATS": 4, "SE_AMP_RATIO": 16, "N_CHANNELS": 2,
              "INPUTS": [f"{s}_normalized" for s in STEMS], "TARGETS": [("mixture",)]}
    model = build_model(config, seed=0).eval()
    stems = load_stems(songs[0])
    x = torch.from_numpy(np.concatenate([stems[s].T for s in STEMS], axis=0))
    mixture = mix(model, x).numpy().T
    assert mixture.shape == (x.shape[1], 2) and np.all(np.isfinite(mixture)) and np.max(np.abs(mixture)) < 1
    audio.write(tmp_path / "mix.wav", mixture)
    assert audio.read(tmp_path / "mix.wav").shape == mixture.shape
