"""End to end through the real command lines: demo data -> two-pass normalization script -> a network mixes it.

Runs the CLIs as a user would (subprocesses, real files), on a tiny demo dataset, then mixes one song's normalized
stems with the official ``ours_S_Lb`` checkpoint (``../shared``; a seeded network of the same configuration when it
is absent) and checks the written mix against an independent computation.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.nn import functional as F

from automix import audio
from automix.dataset import STEMS, discover_songs, load_stems
from automix.mixing import mix
from automix.models import build_model

REPO_ROOT = Path(__file__).resolve().parents[1]
SECONDS = 2
# ours_S (the paper's FxNorm-Automix) in release key names; the official checkpoint's JSON config has the same values
CONFIG = {"NET_TYPE": "CAFX_TDCN_MIX", "N_FEATURES_ENCODER": 128, "KERNEL_SIZE_ENCODER": 64, "MAX_POOLING": 64,
          "N_FEATURES_SEPARATION_MODULE": 256, "N_FEATURES_OUT": 64, "N_FEATURES_TB": 128, "KERNEL_SIZE_TB": 3,
          "N_TB_PER_REPEAT": 6, "N_REPEATS": 4, "SE_AMP_RATIO": 16, "N_CHANNELS": 2,
          "INPUTS": [f"{s}_normalized" for s in STEMS], "TARGETS": [("mixture",)]}


def _run(args, env=None):
    result = subprocess.run(args, cwd=REPO_ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def test_demo_data_then_normalization_script_then_mix(tmp_path, mixing_model):
    data = tmp_path / "demo"
    out = _run([sys.executable, "-m", "automix.cli", "demo-data", "--out", str(data), "--train", "2", "--val", "1",
                "--test", "1", "--seconds", str(SECONDS), "--seed", "3"])
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

    _check_mix(mixing_model, songs[0], tmp_path / "mix.wav")


@pytest.fixture
def mixing_model(request):
    """The official ``ours_S_Lb`` network (JSON config, ``.params`` strict, ``weights_only``), else a seeded one."""
    try:
        parity = request.getfixturevalue("reference_dir") / "parity"
    except pytest.skip.Exception:  # a user's clone has no ../shared: the same checks with seeded weights
        return build_model(CONFIG, seed=0).eval()
    model = build_model(json.loads((parity / "ours_S_Lb.config.json").read_text())).eval()
    model.load_state_dict(torch.load(parity / "ours_S_Lb.params", weights_only=True))
    return model


def _check_mix(model, song, path):
    """Mix a song's normalized stems, write the WAV, and check it against what the stems and the network give."""
    # the stems as the release orders them, read file by file (not through load_stems): vocals, bass, drums, other
    files = [song.path / f"{stem}_normalized.wav" for stem in ("vocals", "bass", "drums", "other")]
    x = torch.from_numpy(np.concatenate([audio.read(f).T for f in files]))
    stems = load_stems(song)
    assert torch.equal(torch.from_numpy(np.concatenate([stems[s].T for s in STEMS])), x)
    n_samples = sf.info(str(song.path / "mixture.wav")).frames
    assert x.shape == (8, n_samples) and n_samples == SECONDS * audio.SAMPLE_RATE

    audio.write(path, mix(model, x).numpy().T)  # the user's path: chunked mix, 16-bit WAV
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (44100, 2, n_samples, "PCM_16")
    written = torch.from_numpy(audio.read(path).T)
    assert torch.sqrt(torch.mean(written**2)) > 1e-2, "the mix is (near) silent"

    # independent computation: one plain forward pass over the whole song (zero-padded to a multiple of 64)
    with torch.inference_mode():
        reference = model(F.pad(x, (0, -n_samples % 64))[None])[0, 0, :, :n_samples]
    torch.testing.assert_close(written, reference, rtol=0, atol=1.5 / 32768)  # 16-bit truncation (< 1 LSB) + rounding
    # the check above tells stem orders apart: swapping two stems or left and right changes the mix far more
    with torch.inference_mode():
        short = model(x[None, :, :6400])[0, 0]
        for order in ([2, 3, 0, 1, 4, 5, 6, 7], [1, 0, 3, 2, 5, 4, 7, 6]):
            assert torch.max(torch.abs(model(x[None, order, :6400])[0, 0] - short)) > 100 / 32768

    # known answer for the chunked path: where every stem is silent, the mix is silent (the front-end and the
    # decoder are 64-tap convolutions and the latent path only sets gains), however the chunks fall
    gapped = x[:, :25600].clone()
    gapped[:, 6400:19200] = 0
    out = mix(model, gapped, chunk_seconds=0.1)
    assert torch.max(torch.abs(out[:, 6400 + 128:19200 - 128])) < 1e-6
    assert torch.sqrt(torch.mean(out[:, :6400] ** 2)) > 1e-2 and torch.sqrt(torch.mean(out[:, 19200:] ** 2)) > 1e-2
