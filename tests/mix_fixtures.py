"""Small real inputs for the mixer and inference tests: generated stems, synthetic features, a tiny network."""

import json
from pathlib import Path

import numpy as np

from automix import audio
from automix.conventions import STEMS
from automix.fxnorm.features import FEATURE_STEMS, save_features

# A shrunk FxNorm-Automix (20k parameters instead of 2.75 M): the same code path, fast on 2 cores.
TINY_CONFIG = {"NET_TYPE": "CAFX_TDCN_MIX", "INPUTS": [f"{s}_normalized" for s in STEMS], "OUTPUTS": ["mixture"],
               "TRAINING_SEQ_LENGTH": 131072, "N_FEATURES_ENCODER": 16, "N_FEATURES_SEPARATION_MODULE": 32,
               "N_FEATURES_OUT": 16, "N_FEATURES_TB": 16, "N_TB_PER_REPEAT": 2, "N_REPEATS": 1, "SE_AMP_RATIO": 2}


def features(loudness=-28.0) -> dict:
    """Synthetic dataset features in the right format: flat EQ, a compression band, centred-ish panning."""
    flat = np.full(32769, 1.0, np.float32)
    return {"eq": {s: flat for s in FEATURE_STEMS},
            "compression": {s: np.array([-14.0, 1.3]) for s in FEATURE_STEMS},
            "panning": {s: np.full(32769, 0.85, np.float32) for s in FEATURE_STEMS},
            "loudness": {s: np.array([loudness]) for s in FEATURE_STEMS}}


def features_file(folder: Path, mode="fixed") -> Path:
    path = Path(folder) / f"features_{mode}.npz"
    save_features(path, features(), {"mode": mode})
    return path


def stem_audio(stem: str, seconds=2.0, rate=44100, seed=0, channels=2) -> np.ndarray:
    """A stem-like signal ``(n, channels)`` float32: decaying notes or noise hits on a beat, a little off-centre."""
    rng = np.random.default_rng([seed, STEMS.index(stem)])
    t = np.arange(int(round(seconds * rate))) / rate
    envelope = np.exp(-(t % 0.25) * (8.0 if stem != "drums" else 30.0))
    if stem == "drums":
        source = rng.standard_normal(t.size)
    else:
        freq = {"vocals": 440.0, "bass": 55.0, "other": 262.0}[stem] * (1 + (np.floor(t / 0.5) % 3) / 4)
        source = np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(6 * np.pi * freq * t)
    x = (0.3 * envelope * source).astype(np.float32)
    return x[:, None] if channels == 1 else np.stack([x, 0.7 * x], axis=1)


def write_song(folder: Path, seconds=2.0, rate=44100, subtype="PCM_16", stems=STEMS, seed=0, channels=2) -> dict:
    """Write ``<folder>/<stem>.wav``; returns ``{stem: path}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for stem in stems:
        paths[stem] = folder / f"{stem}.wav"
        audio.write(paths[stem], stem_audio(stem, seconds, rate, seed, channels), rate, subtype)
    return paths


def tiny_state_dict(config=TINY_CONFIG, seed=0) -> dict:
    from automix.models import build_model

    return build_model(config, seed=seed).state_dict()


def write_results(folder: Path, config=TINY_CONFIG, checkpoints=("current_model_for_mixture.params",),
                  seed=0) -> Path:
    """A training results folder as the trainer lays it out: config.json and plain state_dict checkpoints."""
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    for i, name in enumerate(checkpoints):
        torch.save(tiny_state_dict(config, seed + i), folder / name)
    return folder
