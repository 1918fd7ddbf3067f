"""Chunked mixing vs the release's one-pass forward on a long input: difference as SNR (dB) and max abs error.

    python benchmarks/bench_mixing_snr.py                                   # seeded weights, demo song if present
    python benchmarks/bench_mixing_snr.py --config ours_S_Lb.config.json --weights ours_S_Lb.params --seconds 60

The input is a demo song's normalized stems (``demo_data/wet/train/<first song>/*_normalized.wav``) looped to the
length, else seeded noise bursts. The one-pass forward needs ~8 GB at 60 s.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from automix import audio
from automix.config import load_config
from automix.dataset import STEMS
from automix.mixing import mix
from automix.models import build_model

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))  # the release-style forward lives with the tests (one copy)
from release_reference import release_forward  # noqa: E402


def load_stems(n_samples: int, seed: int = 0) -> tuple[torch.Tensor, str]:
    songs = sorted((REPO_ROOT / "demo_data" / "wet" / "train").glob("*/vocals_normalized.wav"))
    if songs:
        folder = songs[0].parent
        x = np.concatenate([np.resize(audio.read(folder / f"{s}_normalized.wav").T, (2, n_samples)) for s in STEMS])
        return torch.from_numpy(x.astype(np.float32)), f"demo song {folder.name} (normalized stems), looped"
    rng = np.random.default_rng(seed)
    envelope = np.exp(-(np.arange(n_samples) % 11025) / 2000.0)
    return torch.from_numpy((0.3 * rng.standard_normal((8, n_samples)) * envelope).astype(np.float32)), "noise bursts"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO_ROOT / "configs" / "ISMIR" / "ours_S_Lb.py"),
                        help="config .py (or a release .config.json)")
    parser.add_argument("--weights", help="state_dict (.params); default: seeded initial weights")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    config = json.loads(Path(args.config).read_text()) if args.config.endswith(".json") else load_config(args.config)
    model = build_model(config, seed=0).eval()
    if args.weights:
        model.load_state_dict(torch.load(args.weights, weights_only=True))
    n_samples = int(args.seconds * audio.SAMPLE_RATE) // 64 * 64
    x, source = load_stems(n_samples)
    with torch.inference_mode():
        start = time.perf_counter()
        reference = release_forward(model, x[None])[0, 0]
        one_pass_s = time.perf_counter() - start
        start = time.perf_counter()
        chunked = mix(model, x)
        chunked_s = time.perf_counter() - start
    error = (chunked - reference).double()
    snr_db = 10 * np.log10(float((reference.double() ** 2).sum()) / max(float((error**2).sum()), 1e-300))
    print(f"{args.seconds:.0f} s of {source}; weights: {args.weights or 'seeded init'}")
    print(f"one-pass forward {one_pass_s:.1f} s; chunked mix (default chunk) {chunked_s:.1f} s")
    print(f"max abs difference {float(error.abs().max()):.2e}; SNR of the chunked mix vs one pass {snr_db:.1f} dB")


if __name__ == "__main__":
    main()
