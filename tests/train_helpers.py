"""Tiny songs and configs for the trainer tests (tests/test_train*.py): real WAV files, real loader, small nets."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from automix import audio

REPO_ROOT = Path(__file__).resolve().parents[1]
STEMS = ("vocals", "bass", "drums", "other")
GAINS = (0.9, 0.5, 0.7, 0.3)  # mixture = sum of gain x stem: a mix the network can learn quickly

TINY_MIX = """config = {
    "NET_TYPE": "CAFX_TDCN_MIX", "INPUTS": ["vocals", "bass", "drums", "other"], "OUTPUTS": ["mixture"],
    "LOSS": "Lb", "N_FEATURES_ENCODER": 8, "KERNEL_SIZE_ENCODER": 16, "MAX_POOLING": 16,
    "N_FEATURES_SEPARATION_MODULE": 16, "N_FEATURES_OUT": 8, "N_FEATURES_TB": 8, "N_TB_PER_REPEAT": 2,
    "N_REPEATS": 1, "SE_AMP_RATIO": 2, "FFT_SIZE": 1024, "HOP_LENGTH": 256, "TRAINING_SEQ_LENGTH": 8192,
    "BATCH_SIZE": 2, "NUM_MINIBATCHES_PER_EPOCH": 3, "LEARNING_RATES": [(2, 1e-3)],
    "MAX_VALIDATION_SEQ_LENGTH_TD": 22528,
}
"""

TINY_PRETRAIN = """config = {
    "NET_TYPE": "CAFX_TDCN", "PRETRAIN": True, "INPUTS": ["vocals", "bass", "drums", "other"],
    "OUTPUTS": ["vocals", "bass", "drums", "other"], "LOSS": "td_l1", "N_FEATURES_ENCODER": 8,
    "KERNEL_SIZE_ENCODER": 16, "MAX_POOLING": 16, "N_FEATURES_SEPARATION_MODULE": 16, "N_FEATURES_OUT": 8,
    "N_FEATURES_TB": 8, "N_TB_PER_REPEAT": 2, "N_REPEATS": 1, "SE_AMP_RATIO": 2, "TRAINING_SEQ_LENGTH": 4096,
    "BATCH_SIZE": 2, "NUM_MINIBATCHES_PER_EPOCH": 3, "LEARNING_RATES": [(3, 1e-3)],
    "MAX_VALIDATION_SEQ_LENGTH_TD": 16384,
}
"""


def tone_stems(rng: np.random.Generator, n_samples: int) -> np.ndarray:
    """Four stereo stems ``(4, n_samples, 2)``: a few decaying harmonic notes each, panned, float32."""
    t = np.arange(n_samples) / 44100.0
    stems = np.zeros((4, n_samples, 2), np.float32)
    for s, base in enumerate((440.0, 55.0, 0.0, 220.0)):
        for onset in np.arange(0.0, n_samples / 44100.0, 0.25):
            env = np.where(t >= onset, np.exp(-(t - onset) * 8.0), 0.0)
            if base == 0.0:  # "drums": noise bursts
                note = rng.standard_normal(n_samples) * env * 0.3
            else:
                f = base * rng.choice([1.0, 1.25, 1.5, 2.0])
                note = sum(np.sin(2 * np.pi * f * k * t) / k for k in (1, 2, 3)) * env * 0.2
            pan = rng.uniform(0.2, 0.8)
            stems[s, :, 0] += (note * np.sqrt(1 - pan)).astype(np.float32)
            stems[s, :, 1] += (note * np.sqrt(pan)).astype(np.float32)
    return stems


def make_dataset(root: Path, n_train: int = 3, n_val: int = 2, seconds: float = 1.0, seed: int = 0) -> Path:
    """``root/train`` and ``root/val`` song folders with the four stems and ``mixture = sum(gain x stem)``."""
    rng = np.random.default_rng(seed)
    n_samples = int(seconds * 44100)
    for split, n_songs in (("train", n_train), ("val", n_val)):
        for i in range(n_songs):
            folder = root / split / f"song_{i:02d}"
            folder.mkdir(parents=True)
            stems = tone_stems(rng, n_samples)
            for name, stem in zip(STEMS, stems):
                audio.write(folder / f"{name}.wav", stem)
            mixture = sum(g * stem for g, stem in zip(GAINS, stems))
            audio.write(folder / "mixture.wav", mixture)
    return root


def write_config(path: Path, text: str, **changes) -> Path:
    """``text`` (a config file) with ``config.update(changes)`` appended."""
    extra = "".join(f"config[{key!r}] = {value!r}\n" for key, value in changes.items())
    path.write_text(text + extra)
    return path


def train_command(config: Path, results: Path, suffix: str, data: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "automix.train", str(config), "--results-folder", str(results),
            "--folder-suffix", suffix, "--data-dir", str(data), "--no-progress", "--threads", "1", *extra]


def env() -> dict:
    """The environment of a trainer subprocess: this checkout first on the path, one thread."""
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}


def run(command: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO_ROOT, env=env(), capture_output=True, text=True, timeout=timeout)
