"""Evaluation speed: the metrics of one 3-minute song alone, by family, and optionally a whole evaluation run.

    python benchmarks/bench_evaluation.py                       # metrics of a 3-min stereo song, per family
    python benchmarks/bench_evaluation.py --repeats 3 --seconds 180
    python benchmarks/bench_evaluation.py --split demo_data/wet/test --features training/features/features_demo.npz \
        --irs demo_data/irs/reverb [--system ours=training/results/ours_demo_La]   # + a whole evaluation, by stage

Prints the median of ``--repeats`` runs of each stage (goal: all metrics of a 3-min song under 5 s on 2 cores).
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from automix.evaluation import metrics as M  # noqa: E402
from automix.evaluation.runner import stereo_losses  # noqa: E402


def _song(seconds: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A music-like reference (decaying tones and noise bursts, stereo) and a slightly different 'mix'."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 44100)
    t = np.arange(n) / 44100
    env = np.exp(-(t % 0.5) * 6)
    tone = np.sin(2 * np.pi * 220 * (1 + (np.floor(t / 2) % 4) / 4) * t)
    noise = rng.standard_normal((n, 2)) * 0.2
    ref = (0.4 * env * tone)[:, None] * np.array([1.0, 0.8]) + noise * env[:, None]
    est = ref * np.array([0.9, 1.0]) + 0.01 * rng.standard_normal((n, 2))
    return ref.astype(np.float32), est.astype(np.float32)


def time_metrics(seconds: float, repeats: int) -> None:
    ref, est = _song(seconds)
    def families(a, b):  # the four families as all_metrics runs them (one normalization and STFT per signal)
        analyses = (M.Analysis(a), M.Analysis(b))
        return [M.loudness_metrics(a, b)] + [f(*analyses) for f in (M.spectral_metrics, M.panning_metrics,
                                                                        M.dynamics_metrics)]

    stages = {"loudness, spectral, panning, dynamics": families, "waveform (L1, L2, MRSTFT)": M.waveform_metrics,
              "stereo losses (La, Lb)": stereo_losses}
    times = {name: [] for name in stages}
    totals = []
    for _ in range(repeats):
        start = time.perf_counter()
        for name, function in stages.items():
            t0 = time.perf_counter()
            function(ref, est)
            times[name].append(time.perf_counter() - t0)
        totals.append(time.perf_counter() - start)
    print(f"metrics of one {seconds:.0f}-s stereo song (median of {repeats}):")
    for name, values in times.items():
        print(f"  {name:<28} {statistics.median(values):6.2f} s")
    print(f"  {'all':<28} {statistics.median(totals):6.2f} s")


def time_evaluation(args) -> None:
    from automix.dataset import scan_songs
    from automix.evaluation.runner import BASELINE, SystemSpec, evaluate

    songs = scan_songs(args.split, require_mixture=True).songs
    systems = [SystemSpec(BASELINE, "baseline")]
    for item in args.system:
        name, _, folder = item.partition("=")
        systems.append(SystemSpec(name, "results", results=folder))
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        outcome = evaluate(songs, {s.name: s.mixture for s in songs}, systems, out,
                           {"features": args.features, "impulse_responses": args.irs, "workers": 1},
                           progress=False)
        total = time.perf_counter() - start
    seconds = sum(s.mixture.stat().st_size for s in songs) / (44100 * 4)  # 16-bit stereo WAV
    print(f"whole evaluation of {len(songs)} songs ({seconds:.0f} s of audio), {len(systems)} systems: {total:.1f} s "
          f"({outcome.seconds:.1f} s inside evaluate)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--split", help="a test split for a whole evaluation run")
    parser.add_argument("--features")
    parser.add_argument("--irs")
    parser.add_argument("--system", action="append", default=[])
    args = parser.parse_args()
    time_metrics(args.seconds, args.repeats)
    if args.split:
        time_evaluation(args)


if __name__ == "__main__":
    main()
