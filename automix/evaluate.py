"""Evaluate mixing systems on a test split against the reference mixtures, with the paper's metrics and a report.

    python -m automix.evaluate --input-folder demo_data/wet/test --output-folder eval/wet \
        --features training/features/features_demo.npz --impulse-responses demo_data/irs/reverb \
        --system ours=training/results/ours_demo_La --system wun=training/results/wun_demo_La

The normalized-sum baseline is always evaluated; the reference mixture is the song's ``mixture`` file. Writes
``<output>/<song>/<prefix>_<system>_mixture.wav``, ``metrics.csv``, ``summary.json`` and ``report.html``. Exit code
0 when every song was evaluated, 1 when some song failed (after all the others), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="automix evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input-folder", required=True, help="test split: one folder per song with the stems")
    parser.add_argument("--reference-folder", help="where the songs' mixture files are (default: --input-folder; "
                        "give the wet split when --input-folder holds dry stems)")
    parser.add_argument("--output-folder", required=True, help="mixes, metrics and report go here")
    parser.add_argument("--output-prefix", default="eval", help="mixes are <song>/<prefix>_<system>_mixture.wav; "
                        "also the name of the model given by --training-params/--weights")
    parser.add_argument("--features", required=True, help="dataset-average features (.npz)")
    parser.add_argument("--training-params", help="config (.py or .json) of a model given by --weights")
    parser.add_argument("--weights", help="checkpoint (.params state_dict) of that model")
    parser.add_argument("--nets", help="accepted for the release's command lines and ignored (no pickled modules)")
    parser.add_argument("--system", action="append", default=[], metavar="NAME=RESULTS_DIR",
                        help="a trained model's results folder (repeatable)")
    parser.add_argument("--impulse-responses", help="reverb-send IRs (vocals/other), as for training")
    parser.add_argument("--pre-impulse-responses", help="short IRs for the pre-reverb of dry stems (with --dry)")
    parser.add_argument("--dry", action="store_true", help="the stems are dry: pre-reverb before normalization")
    parser.add_argument("--baseline-sum", action=argparse.BooleanOptionalAction, default=False,
                        help="evaluate only the normalized-sum baseline")
    parser.add_argument("--mode", choices=("fixed", "release"), default="fixed", help="normalization mode")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--seed", type=int, default=0, help="normalization draws and bootstrap intervals")
    parser.add_argument("--workers", type=int, default=None, help="normalization processes per song")
    parser.add_argument("--overwrite", action="store_true", help="redo songs already evaluated")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _systems(args) -> list:
    from automix.evaluation.runner import BASELINE, SystemSpec

    systems = [SystemSpec(BASELINE, "baseline")]
    if args.baseline_sum:
        return systems
    if bool(args.training_params) != bool(args.weights):
        raise ValueError("give --training-params and --weights together (or --system NAME=RESULTS_DIR)")
    if args.training_params:
        systems.append(SystemSpec(args.output_prefix, "files", config=args.training_params, weights=args.weights))
    for item in args.system:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise ValueError(f"--system {item!r}: use NAME=RESULTS_DIR, e.g. ours=training/results/ours_demo_La")
        if name in {s.name for s in systems} or name == "reference":
            raise ValueError(f"--system {item!r}: the name {name!r} is taken; choose another")
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"--system {item!r}: results folder {folder} not found")
        systems.append(SystemSpec(name, "results", results=folder))
    return systems


def _songs(args) -> tuple[list, dict, dict]:
    from automix.dataset import _find_file, scan_songs

    scan = scan_songs(args.input_folder)
    failed = {path.name: reason for path, reason in scan.skipped}
    reference_root = Path(args.reference_folder or args.input_folder)
    references, songs = {}, []
    for song in scan.songs:
        mixture = _find_file(reference_root / song.name, "mixture")
        if mixture is None:
            failed[song.name] = f"no mixture file in {reference_root / song.name} (the reference)"
        else:
            references[song.name] = mixture
            songs.append(song)
    if not songs:
        raise ValueError(f"{args.input_folder}: no song with all four stems and a reference mixture"
                         + (f" ({'; '.join(f'{k}: {v}' for k, v in sorted(failed.items()))})" if failed else ""))
    return songs, references, failed


def run(args) -> int:
    from automix.evaluation.runner import evaluate

    if args.nets:
        logger.info("--nets %s ignored: networks are rebuilt from the config (no pickled modules)", args.nets)
    if args.dry and not args.pre_impulse_responses:
        raise ValueError("--dry needs --pre-impulse-responses (short IRs that make dry stems resemble wet ones)")
    systems = _systems(args)
    songs, references, failed = _songs(args)
    mixer_args = {"features": args.features, "mode": args.mode, "device": args.device, "seed": args.seed,
                  "impulse_responses": args.impulse_responses, "workers": args.workers,
                  "pre_impulse_responses": args.pre_impulse_responses if args.dry else None}
    outcome = evaluate(songs, references, systems, args.output_folder, mixer_args, prefix=args.output_prefix,
                       overwrite=args.overwrite, seed=args.seed, failed=failed, progress=not args.quiet)
    print(f"songs evaluated: {len(outcome.songs_done)}, already done: {len(outcome.songs_skipped)}, failed: "
          f"{len(outcome.failed)}; {outcome.seconds:.1f} s; report: {outcome.report_path}")
    for name, reason in sorted(outcome.failed.items()):
        print(f"  FAILED {name}: {reason}")
    return 1 if outcome.failed else 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"automix evaluate: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
