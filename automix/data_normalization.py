"""Effect normalization: compute dataset-average effect features and/or write effect-normalized stems.

    python -m automix.data_normalization --input-folder DATA/train --output-suffix normalized \
        --features-save features.npz --no-normalize                       # pass 1: features (no reverb)
    python -m automix.data_normalization --input-folder DATA/train --output-suffix normalized \
        --features-load features.npz --impulse-responses IRS/reverb       # pass 2: stems, with reverb send

Writes ``<song>/<stem>_<suffix>.wav`` and ``<song>/normalization_<suffix>.json`` next to each song's stems.
``--shard K/N`` (normalization pass only) processes the songs ``i`` (0-based index in name order, bad songs
included) with ``i % N == K - 1``: N runs with K = 1..N, on any machines, write the same files as one run.

Exit code 0 when every song succeeded (or was already done), 1 when some song failed (after processing all the
others) or on an unexpected error (logged with its traceback), 2 for bad arguments only (one line).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from automix.conventions import COMPRESSION_SEARCHES, MODES, SAMPLE_RATE

logger = logging.getLogger(__name__)


class UsageError(Exception):
    """Bad command-line arguments (exit code 2): a missing folder, an unusable IR, a features file that does not
    fit the run, an impossible option combination."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with ``1 <= K <= N`` (K is 1-based, like ``SLURM_ARRAY_TASK_ID`` with
    ``--array=1-N``)."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N (e.g. 3/8), got {text!r}") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"K/N needs 1 <= K <= N (K is 1-based), got {text!r}")
    return k, n


def shard_names(names, shard: tuple[int, int] | None) -> set:
    """The song names of one shard: sorted names, the i-th (0-based) goes to shard ``i % N + 1``."""
    names = sorted(names)
    if shard is None:
        return set(names)
    k, n = shard
    return set(names[k - 1::n])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="automix normalize", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input-folder", required=True, help="split folder with one sub-folder per song")
    parser.add_argument("--impulse-responses", help="IR folder (<name>/impulse_response.wav) for the reverb send "
                        "of vocals and other; without it there is no reverb")
    parser.add_argument("--pre-impulse-responses", help="short IRs for pre-reverb of dry vocals/other")
    parser.add_argument("--output-suffix", required=True, help="outputs are <stem>_<suffix>.wav")
    parser.add_argument("--features-save", help="compute features from this folder and save them here (.npz)")
    parser.add_argument("--features-load", help="use these features (.npz); wins over --features-save")
    parser.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=True,
                        help="write normalized stems (--no-normalize: features only)")
    parser.add_argument("--mode", choices=MODES, default="fixed",
                        help="fixed: intended behaviour (default); release: the published behaviour")
    parser.add_argument("--compression-search", choices=COMPRESSION_SEARCHES, default=None,
                        help="compression setting search: grid = the release's order, setting by setting (up to "
                        "1,037 passes per channel); fast = bisection (at most 12); default grid in release mode, "
                        "fast in fixed mode")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                        help="worker processes (default: half the CPUs)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the IR and shelf draws")
    parser.add_argument("--overwrite", action="store_true", help="redo songs whose outputs already exist")
    parser.add_argument("--shard", type=parse_shard, metavar="K/N",
                        help="normalization pass only: process the K-th of N shards (K = 1..N) of the songs sorted "
                        "by name (song i goes to shard i %% N + 1); N runs fill the folders with the same bytes as "
                        "one run")
    parser.add_argument("--allow-features-mismatch", action="store_true",
                        help="expert: use a --features-load file made for another mode, sample rate, FFT size or "
                        "format version (logged) instead of stopping")
    parser.add_argument("--feature-cache-mb", type=float, default=4096,
                        help="features pass: keep processed stems between effects (temporary files with worker "
                        "processes, memory with --workers 1) when the dataset fits in this many MiB (float32); else "
                        "re-apply earlier effects per effect (default 4096)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _discover(folder) -> tuple[list, dict]:
    from automix.dataset import scan_songs

    scan = scan_songs(folder, sample_rate=SAMPLE_RATE)
    return scan.songs, {path.name: reason for path, reason in scan.skipped}


def _print_summary(summary: dict) -> None:
    per_song = summary["seconds_per_song"]
    print(f"songs done: {len(summary['done'])}, skipped (already done): {len(summary['skipped'])}, "
          f"failed: {len(summary['failed'])}; "
          + (f"{per_song:.1f} s per song (worker time); " if per_song is not None else "")
          + f"{summary['wall_seconds']:.1f} s in all")
    for name, reason in sorted(summary["failed"].items()):
        print(f"  FAILED {name}: {reason}")


def _print_features_summary(path, metadata: dict) -> None:
    counts = [n for per_stem in metadata["n_files"].values() for n in per_stem.values()]
    excluded = {f"{effect}/{stem}": reasons for effect, per_stem in metadata["excluded"].items()
                for stem, reasons in per_stem.items() if reasons}
    print(f"features of {metadata['n_songs']} songs saved to {path}: {min(counts)}-{max(counts)} files averaged "
          f"per effect and stem; excluded: {excluded or 'none'}")


def _check_arguments(args) -> tuple:
    """Everything the arguments name, checked before any work: ``(songs, bad, irs, pre_irs, features or None)``.

    Raises:
        UsageError: one line naming the argument and the problem.
    """
    from automix.fxnorm import find_impulse_responses, load_features

    if not (args.features_load or args.features_save):
        raise UsageError("give --features-load FILE or --features-save FILE")
    if args.shard and not (args.features_load and args.normalize):
        raise UsageError("--shard splits the normalization pass only: compute the features once without it, then "
                         "give every shard --features-load FILE")
    try:
        songs, bad = _discover(args.input_folder)
        irs = find_impulse_responses(args.impulse_responses) if args.impulse_responses else None
        pre_irs = find_impulse_responses(args.pre_impulse_responses) if args.pre_impulse_responses else None
        features = None
        if args.features_load:
            features, _ = load_features(args.features_load, mode=args.mode,
                                        allow_mismatch=args.allow_features_mismatch)
    except (ValueError, FileNotFoundError) as err:  # AudioError and FeaturesMismatchError are ValueErrors
        raise UsageError(str(err).replace("\n", " ")) from None
    if args.shard:
        mine = shard_names([s.name for s in songs] + list(bad), args.shard)
        songs, bad = [s for s in songs if s.name in mine], {k: v for k, v in bad.items() if k in mine}
        print(f"shard {args.shard[0]}/{args.shard[1]}: {len(mine)} songs")
    return songs, bad, irs, pre_irs, features


def run(args) -> int:
    from automix.fxnorm import compute_features, make_executor, normalize_dataset, save_features

    songs, bad, irs, pre_irs, features = _check_arguments(args)
    with make_executor(args.workers) as executor:
        if args.features_load:
            if args.features_save:
                logger.warning("--features-load given: --features-save %s is ignored", args.features_save)
        else:
            features, metadata = compute_features(songs, executor, args.mode, args.seed, irs, not args.quiet,
                                                  args.feature_cache_mb, search=args.compression_search)
            save_features(args.features_save, features, metadata)
            _print_features_summary(args.features_save, metadata)
            bad.update(metadata["failed_songs"])
            # Both modes apply the features just computed (smoothed once), as the release's pass 1 does; only a
            # later --features-load smooths EQ and panning again (release mode).
        summary = {"done": [], "skipped": [], "failed": {}, "seconds_per_song": None, "wall_seconds": 0.0}
        if args.normalize:
            summary = normalize_dataset([s for s in songs if s.name not in bad], features, args.output_suffix,
                                        executor, args.mode, args.seed, irs, pre_irs, overwrite=args.overwrite,
                                        progress=not args.quiet, search=args.compression_search)
    summary["failed"].update(bad)
    if args.normalize:
        _print_summary(summary)
    elif summary["failed"]:
        print("failed songs: " + "; ".join(f"{k}: {v}" for k, v in sorted(summary["failed"].items())))
    return 1 if summary["failed"] else 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except UsageError as err:
        print(f"automix normalize: error: {err}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as err:  # bad data found during the run (e.g. no usable stem of a type)
        print(f"automix normalize: error: {err}", file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001 - a bug or a dead worker: the traceback is what a report needs
        logger.exception("automix normalize: unexpected error")
        return 1


if __name__ == "__main__":
    sys.exit(main())
