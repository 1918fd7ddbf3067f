"""Benchmark of compression normalization: kernel, onset statistic, fast search vs the release's grid search.

Usage: ``python benchmarks/bench_compression.py [--minutes 3] [--excerpt-seconds 10]``

Works on a seeded synthetic drum channel (noise bursts with random levels and decays), so it needs no data. The
brute-force grid search is run for real only on a short excerpt; its cost on the full channel is extrapolated from
the measured per-pass time (printed as such). Runs in well under a minute on one core.
"""
from __future__ import annotations

import argparse
import math
import time

import numba
import numpy as np

from automix.fxnorm.compressor import compress_channel, level_db
from automix.fxnorm.dynamics import (MAX_RATIO, STEM_COMPRESSOR_SETTINGS, THRESHOLDS_DB, fast_search_compression,
                                     grid_search_compression, peak_normalize)
from automix.fxnorm.onsets import onset_peak_statistic

SR = 44100
STEM = "drums"


def synthetic_drums(seconds: float, seed: int = 0) -> np.ndarray:
    """Seeded drum-like channel: a burst every 1/8 note at 120 bpm, random level (-20..0 dB) and decay."""
    rng = np.random.default_rng(seed)
    step = int(0.25 * SR)
    x = np.zeros(int(seconds * SR))
    for start in range(0, len(x) - step + 1, step):
        envelope = np.exp(-np.arange(step) / (0.001 * SR * rng.uniform(20, 150)))
        x[start:start + step] += 10 ** (rng.uniform(-20, 0) / 20) * envelope * rng.standard_normal(step)
    return peak_normalize(x.astype(np.float32))


@numba.njit(cache=True)
def _release_style_kernel(x, threshold_db, ratio, alpha_attack, alpha_release):  # pragma: no cover - jit
    """The spec's per-sample loop with log10 and pow inside (how the release computes it), for comparison."""
    y = np.empty_like(x)
    state = 0.0
    for i in range(x.shape[0]):
        magnitude = abs(x[i])
        xg = 20.0 * math.log10(magnitude) if magnitude >= 1e-6 else -120.0
        yg = threshold_db + (xg - threshold_db) / ratio if xg >= threshold_db else xg
        xl = xg - yg
        alpha = alpha_attack if xl > state else alpha_release
        state = alpha * state + (1.0 - alpha) * xl
        y[i] = x[i] * 10.0 ** (-state / 20.0)
    return y


def best_time(function, repeats: int = 3) -> float:
    """Shortest wall time of ``repeats`` calls, in seconds."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def deep_target(channel: np.ndarray) -> float:
    """An upper band edge that the start ratio cannot reach at -40 dB but ratio 20 can (forces the ratio search)."""
    settings = STEM_COMPRESSOR_SETTINGS[STEM]
    levels = level_db(channel)
    means = [onset_peak_statistic(compress_channel(channel, levels, THRESHOLDS_DB[-1], ratio, settings["attack_ms"],
                                                   settings["release_ms"]))[0]
             for ratio in (settings["start_ratio"], MAX_RATIO)]
    return 0.3 * means[0] + 0.7 * means[1]


def grid_passes_if_monotone(result, start_ratio: int) -> int:
    """How many passes the release's grid order needs to reach ``result`` (when the statistic is monotone)."""
    if result.exhausted:
        return (MAX_RATIO - start_ratio + 1) * len(THRESHOLDS_DB)
    return (result.ratio - start_ratio) * len(THRESHOLDS_DB) + THRESHOLDS_DB.index(result.threshold_db) + 1


def timed_search(search, channel: np.ndarray, upper_db: float):
    start = time.perf_counter()
    result = search(channel, upper_db, STEM)
    return result, time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the synthetic channel")
    parser.add_argument("--excerpt-seconds", type=float, default=10.0, help="excerpt for the real grid search")
    args = parser.parse_args(argv)
    settings = STEM_COMPRESSOR_SETTINGS[STEM]
    channel = synthetic_drums(args.minutes * 60.0)
    print(f"numba {numba.__version__}; synthetic {STEM} channel of {args.minutes:g} min ({len(channel)} samples)")

    start = time.perf_counter()
    compress_channel(channel[:1024], level_db(channel[:1024]), -20.0, 4.0, 10.0, 180.0)
    print(f"JIT compile or cache load: {time.perf_counter() - start:.2f} s (once per process)")
    levels = level_db(channel)
    setting = (-25.0, 6.0, settings["attack_ms"], settings["release_ms"])
    alphas = [math.exp(-1 / (0.001 * SR * t)) for t in setting[2:]]
    _release_style_kernel(channel[:1024], -25.0, 6.0, *alphas)
    per_pass = best_time(lambda: compress_channel(channel, levels, *setting))
    print(f"compressor pass:        {per_pass:.3f} s  (cached level: {best_time(lambda: level_db(channel)):.3f} s "
          f"once per channel; per-sample log10/pow kernel as in the release: "
          f"{best_time(lambda: _release_style_kernel(channel, -25.0, 6.0, *alphas)):.3f} s)")
    compressed = compress_channel(channel, levels, *setting)
    per_statistic = best_time(lambda: onset_peak_statistic(compressed))
    step_s = per_pass + per_statistic
    print(f"onset-peak statistic:   {per_statistic:.3f} s  -> one search step {step_s:.3f} s")

    cases = {"deep (ratio search)": deep_target(channel), "exhausted (unreachable)": -60.0}
    excerpt = peak_normalize(channel[:int(args.excerpt_seconds * SR)])
    for name, upper_db in cases.items():
        fast, fast_s = timed_search(fast_search_compression, channel, upper_db)
        grid_n = grid_passes_if_monotone(fast, settings["start_ratio"])
        print(f"\n{name}: upper edge {upper_db:.2f} dB -> ratio {fast.ratio}, threshold {fast.threshold_db} dB"
              f"{' (exhausted)' if fast.exhausted else ''}")
        print(f"  fast search: {fast.n_passes} passes, {fast_s:.2f} s on {args.minutes:g} min")
        print(f"  release grid order: {grid_n} passes -> about {grid_n * step_s:.0f} s "
              f"(extrapolated: passes x measured search step)")
        excerpt_upper = deep_target(excerpt) if name.startswith("deep") else upper_db
        grid, grid_s = timed_search(grid_search_compression, excerpt, excerpt_upper)
        fast_e, fast_e_s = timed_search(fast_search_compression, excerpt, excerpt_upper)
        print(f"  measured on a {args.excerpt_seconds:g}-s excerpt: grid {grid.n_passes} passes {grid_s:.2f} s, "
              f"fast {fast_e.n_passes} passes {fast_e_s:.2f} s, same setting: "
              f"{(grid.ratio, grid.threshold_db) == (fast_e.ratio, fast_e.threshold_db)}")


if __name__ == "__main__":
    main()
