"""Mix stems with a trained network, or sum the normalized stems: ``python -m automix.inference`` / ``automix mix``.

    automix mix --results training/results/ours_demo_La --features training/features/features_demo.npz \\
        --vocals v.wav --bass b.wav --drums d.wav --other o.wav --output mix.wav
    automix mix --training-params ours_S_Lb.config.json --weights ours_S_Lb.params --mode release \\
        --features features_MUSDB18.npz --tracks session/ --map "Gtr*=other" --output mix.wav --report mix.json
    automix mix --baseline-sum --features features.npz --vocals v.wav --drums d.wav --output sum.wav

Any subset of the stems (missing ones are silence), any length, any sample rate (mixed at 44.1 kHz, written at the
highest input rate), mono or stereo, integer or float WAV/FLAC. The output has the highest input bit depth unless
``--subtype``, and is written atomically; an existing output or report file is replaced only with ``--overwrite``.
Exit code 0 when done, 2 for bad input: one line on stderr naming the file and the fix, and no output file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from automix.atomic import refuse_existing
from automix.conventions import STEMS as STEM_FLAGS

logger = logging.getLogger(__name__)
OUTPUT_SUFFIXES = (".wav", ".flac")
SUBTYPES = ("PCM_16", "PCM_24", "PCM_32", "FLOAT")
_SUBTYPE_BITS = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "FLOAT": 33, "DOUBLE": 34}
_BITS_SUBTYPE = {8: "PCM_16", 16: "PCM_16", 24: "PCM_24", 32: "PCM_32", 33: "FLOAT", 34: "FLOAT"}


class InputError(ValueError):
    """Bad command-line input; the message names the file or option and the fix."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="automix mix", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    stems = parser.add_argument_group("stems (any subset; or --tracks)")
    for stem in STEM_FLAGS:
        stems.add_argument(f"--{stem}", metavar="FILE", help=f"{stem} stem (WAV/FLAC, mono or stereo)")
    stems.add_argument("--tracks", nargs="+", metavar="DIR|FILE", help="any number of tracks (a folder's audio "
                       "files, or files), grouped into the four stems by name and summed per stem")
    stems.add_argument("--map", action="append", default=[], metavar="NAME=STEM",
                       help="--tracks: put the track NAME (file name, name without extension, or glob) into STEM")
    net = parser.add_argument_group("network (or --baseline-sum)")
    net.add_argument("--results", metavar="DIR", help="training results folder (config.json + .params checkpoints)")
    net.add_argument("--checkpoint", choices=("best", "current"), default="best",
                     help="with --results: best = best mean validation loss if saved, else the last epoch (default); "
                     "current = the last epoch")
    net.add_argument("--training-params", metavar="CONFIG", help="experiment config (.py, or .json)")
    net.add_argument("--weights", metavar="FILE", help="network weights (.params state_dict); with --results, "
                     "instead of --checkpoint")
    net.add_argument("--nets", metavar="FILE", help="accepted for the release's command line and ignored (networks "
                     "are built from the config; no pickled module is loaded)")
    net.add_argument("--baseline-sum", action=argparse.BooleanOptionalAction, default=False,
                     help="no network: write the sum of the normalized stems")
    norm = parser.add_argument_group("normalization")
    norm.add_argument("--features", required=True, metavar="FILE", help="dataset-average features (.npz)")
    norm.add_argument("--impulse-responses", metavar="DIR", help="reverb-send IRs of vocals/other "
                      "(DIR/<name>/impulse_response.wav); without it no reverb send")
    norm.add_argument("--pre-impulse-responses", metavar="DIR", help="short IRs: pre-reverb of dry vocals/other "
                      "before normalization (dry input)")
    norm.add_argument("--mode", choices=("fixed", "release"), default="fixed",
                      help="fixed: intended behaviour (default); release: the published one (official checkpoints)")
    norm.add_argument("--allow-features-mismatch", action="store_true", help="accept a features file made for "
                      "another mode (e.g. the official, release-mode features with --mode fixed), with a warning")
    norm.add_argument("--seed", type=int, default=0, help="seed of the normalization's random draws (default 0)")
    norm.add_argument("--workers", type=int, help="normalization processes (default: one per stem for songs of a "
                      "minute or more, else in-process)")
    out = parser.add_argument_group("output")
    out.add_argument("--output", required=True, metavar="FILE", help="mix file (.wav or .flac)")
    out.add_argument("--subtype", choices=SUBTYPES, help="sample format (default: the highest input bit depth)")
    out.add_argument("--report", metavar="FILE.json", help="write what was done as JSON")
    out.add_argument("--overwrite", action="store_true", help="replace an existing --output / --report file "
                     "(default: refuse before any work, exit 2)")
    out.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    out.add_argument("--chunk-seconds", type=_positive_seconds, help="mixing chunk length (memory vs. overhead; "
                     "the result does not depend on it)")
    out.add_argument("--release-warmup", action="store_true", help="reproduce the release's 30-s wrap-around "
                     "prefix (for comparisons with its outputs)")
    out.add_argument("--quiet", action="store_true", help="print only the output line")
    out.add_argument("--verbose", action="store_true", help="log details (INFO)")
    return parser


def _positive_seconds(text: str) -> float:
    """argparse type of ``--chunk-seconds``: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def check_output_path(path, suffixes=None, what: str = "output") -> Path:
    """Fail early (before any work) when ``path`` cannot be written.

    Raises:
        InputError: a folder, an unknown format, a parent that is a file or not writable.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: the {what} path is a folder; give a file name, e.g. {path / 'mix.wav'}")
    if suffixes and path.suffix.lower() not in suffixes:
        raise InputError(f"{path}: unknown {what} format {path.suffix!r}; use {' or '.join(suffixes)}")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"{path}: cannot write the {what}: {ancestor} is a file, not a folder; choose another path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(f"{path}: cannot write the {what}: folder {ancestor} is not writable; choose another path")
    return path


def output_subtype(report: dict, output: Path, requested: str | None) -> tuple[str, str | None]:
    """``(subtype, note)``: ``requested``, else the highest input bit depth the output format can store."""
    if requested:
        subtype = requested
    else:
        bits = [_SUBTYPE_BITS.get(src.get("subtype"), 16) for entry in report["stems"].values()
                for src in entry.get("inputs", ()) if src.get("subtype")]
        subtype = _BITS_SUBTYPE[max(bits, default=16)]
    if output.suffix.lower() == ".flac" and subtype in ("PCM_32", "FLOAT"):
        return "PCM_24", f"FLAC stores at most 24 bits: written as PCM_24 instead of {subtype}"
    return subtype, None


def _write_json(path: Path, data: dict) -> None:
    from automix.atomic import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=1))


def collect_stems(args) -> tuple[dict, str, list[str]]:
    """``({stem: path or [paths]}, song name, printed lines)`` from the stem flags or ``--tracks``."""
    given = {stem: getattr(args, stem) for stem in STEM_FLAGS if getattr(args, stem)}
    if args.tracks and given:
        raise InputError("give either --vocals/--bass/--drums/--other or --tracks, not both")
    if args.map and not args.tracks:
        raise InputError("--map only applies to --tracks")
    if not args.tracks:
        if not given:
            raise InputError("no stem given: use at least one of --vocals, --bass, --drums, --other (or --tracks)")
        first = Path(next(iter(given.values())))
        return given, first.resolve().parent.name or "song", []
    from automix.tracks import group_tracks, list_tracks, parse_map

    try:
        tracks = list_tracks(args.tracks)
    except FileNotFoundError as err:
        raise InputError(str(err)) from None
    groups = group_tracks(tracks, parse_map(args.map))
    lines = [f"tracks grouped into stems ({len(tracks)} files; --map NAME=STEM to change):"]
    lines += [f"  {stem:<7} {', '.join(p.name for p in paths)}" for stem, paths in groups.items()]
    first = Path(args.tracks[0])
    name = (first if first.is_dir() else first.resolve().parent).resolve().name
    return {stem: [str(p) for p in paths] for stem, paths in groups.items()}, name or "song", lines


def make_mixer(args, notes: list):
    """The :class:`automix.mixer.Mixer` the options ask for."""
    from automix.mixer import Mixer

    common = dict(features=args.features, mode=args.mode, seed=args.seed, impulse_responses=args.impulse_responses,
                  pre_impulse_responses=args.pre_impulse_responses, chunk_seconds=args.chunk_seconds,
                  workers=args.workers, release_warmup=args.release_warmup,
                  allow_features_mismatch=args.allow_features_mismatch)
    if args.nets:
        notes.append("--nets is ignored: the network is built from the config, the weights are a plain state_dict")
    if args.baseline_sum:
        ignored = [flag for flag, value in (("--results", args.results), ("--training-params", args.training_params),
                                            ("--weights", args.weights)) if value]
        if ignored:
            notes.append(f"--baseline-sum: {', '.join(ignored)} ignored (no network)")
        return Mixer.baseline(**common)
    if args.results:
        if args.training_params:
            notes.append("--training-params ignored: the config of --results is used")
        return Mixer.from_results(args.results, checkpoint=args.weights or args.checkpoint, device=args.device,
                                  **common)
    if not (args.training_params and args.weights):
        raise InputError("no network: give --results DIR, or --training-params CONFIG and --weights FILE, or "
                         "--baseline-sum for the normalized sum")
    return Mixer(args.training_params, args.weights, device=args.device, **common)


def _model_line(report: dict) -> str:
    model = report["model"]
    if model["kind"] == "baseline":
        return "model: none (--baseline-sum: the sum of the normalized stems)"
    line = f"model: {model['net_type']} ({model['parameters']:,} parameters), weights {model['weights']}"
    if model.get("checkpoint_rule"):
        line += f" (checkpoint rule: {model['checkpoint_rule']})"
    return line


def summary_lines(report: dict) -> list[str]:
    """What was done, for the terminal: output, device, per stem, notes, timing (the model is printed before)."""
    from automix.mixer_stems import describe

    out = report["output"]
    lines = [f"wrote {out['path']} ({report['sample_rate']} Hz, {out['subtype']}, "
             f"{report['duration_seconds']:.2f} s)",
             f"device {report['device']}, normalization mode {report['mode']}, seed {report['seed']}, features "
             f"{report['features'].get('source')}"]
    lines += ["  " + describe(stem, entry).replace("\n", "\n  ") for stem, entry in report["stems"].items()]
    lines += [f"note: {note}" for note in report["notes"]]
    sec = report["seconds"]
    stages = ", ".join(f"{k} {sec[k]:.2f} s" for k in ("read", "normalize", "mix", "write") if k in sec)
    lines.append(f"{report['duration_seconds']:.1f} s of audio in {sec['total']:.2f} s "
                 f"({report['real_time_factor']:.1f}x real time): {stages}")
    return lines


def _clip_note(mix: np.ndarray, subtype: str) -> str | None:
    peak = float(max(mix.max(), -mix.min())) if mix.size else 0.0  # no whole-mix temporary
    if peak <= 1.0 or subtype == "FLOAT":
        return None
    clipped = int(np.count_nonzero(mix > 1.0) + np.count_nonzero(mix < -1.0))
    return (f"the mix peaks at {peak:.2f} (beyond full scale): {clipped} samples clipped in the {subtype} file "
            "(--subtype FLOAT keeps them)")


def run(args) -> int:
    """Check the paths, build the mixer, mix, write; returns the exit code (errors raise)."""
    output = check_output_path(args.output, OUTPUT_SUFFIXES)
    report_path = check_output_path(args.report, what="report") if args.report else None
    if report_path is not None and report_path.resolve() == output.resolve():
        raise InputError(f"{report_path}: --report and --output are the same file")
    refuse_existing(output, args.overwrite, "another --output")
    if report_path is not None:
        refuse_existing(report_path, args.overwrite, "another --report")
    stems, song, lines = collect_stems(args)
    from automix import audio

    for paths in stems.values():  # missing or unreadable files fail before the network is loaded
        for path in paths if isinstance(paths, list) else [paths]:
            audio.info(path)
    notes: list[str] = []
    if not args.baseline_sum:  # no torch (libgomp) for the sum; measured before our own workers load the CPUs
        _openmp_spin_for_load()
    from automix.mixer import normalization_pool

    # the normalization workers start up (imports: ~1-2 s each) while this process imports torch and builds the net
    pool = normalization_pool(stems, workers=args.workers)
    try:
        mixer = make_mixer(args, notes)
    except BaseException:
        pool.shutdown()
        raise
    if not args.quiet:  # before the work: a long song takes a while
        print("\n".join(lines + [_model_line({"model": mixer.model_info})]), flush=True)
    # bars on an interactive terminal only (a redirected log gets the summary, not carriage-return redraws)
    result = mixer.mix(stems, name=song, pool=pool, progress=not args.quiet and sys.stderr.isatty())
    report = result.report
    report["notes"] = notes + report["notes"]
    subtype, note = output_subtype(report, output, args.subtype)
    for extra in (note, _clip_note(result.audio, subtype)):
        if extra:
            report["notes"].append(extra)
    # again: another program may have written it during the mix
    refuse_existing(output, args.overwrite, "another --output")
    start = time.perf_counter()
    audio.write(output, result.audio, result.sample_rate, subtype=subtype)
    report["seconds"]["write"] = time.perf_counter() - start
    report["seconds"]["total"] += report["seconds"]["write"]
    report["real_time_factor"] = report["duration_seconds"] / report["seconds"]["total"]
    report["output"] = {"path": str(output), "subtype": subtype, "sample_rate": result.sample_rate,
                        "samples": int(result.audio.shape[0])}
    if report_path is not None:
        try:
            _write_json(report_path, report)
        except OSError:
            output.unlink(missing_ok=True)  # all or nothing
            raise
    print("\n".join(summary_lines(report)[:1] if args.quiet else summary_lines(report)), flush=True)
    return 0


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    if isinstance(err, FileNotFoundError) and err.filename and str(err.filename) not in text:
        text = f"{err.filename}: {text}"
    return text or type(err).__name__


# libgomp (torch's OpenMP) spins this many times at a barrier before sleeping. Its default, 300,000 (~15 ms), is the
# fastest on idle cores (a 30-s mix: 5.5 s against 6.3 s with 10,000 spins), but makes an idle thread compete for a
# core another program is using (the same mix with a busy-loop process on one of the 2 cores: 14.1 s against 10.2 s
# with 10,000 spins; with a training run beside it 14-26 s against 7.7 s). The CLI therefore shortens the spin only
# when other processes are using the CPUs when it starts.
OPENMP_SPIN_COUNT = "10000"
BUSY_CORES = 0.5  # CPU time of other processes, in cores, from which the spin is shortened


def cpu_use_of_others(interval: float = 0.1) -> float | None:
    """Cores' worth of CPU time used by other processes during ``interval`` seconds while this one sleeps, on the
    CPUs this process may run on (Linux ``/proc/stat``); None where that cannot be read."""
    try:
        cpus = {f"cpu{index}" for index in os.sched_getaffinity(0)}

        def busy_and_total() -> tuple[int, int]:
            busy = total = 0
            with open("/proc/stat", encoding="ascii") as stat:
                for line in stat:
                    name, *fields = line.split()
                    if name in cpus:
                        ticks = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
                        total += sum(ticks)
                        busy += sum(ticks) - ticks[3] - ticks[4]
            return busy, total

        busy_0, total_0 = busy_and_total()
        time.sleep(interval)
        busy_1, total_1 = busy_and_total()
    except (OSError, AttributeError, ValueError, IndexError):  # no /proc/stat, no affinity, another format
        return None
    if total_1 <= total_0:
        return None
    return len(cpus) * (busy_1 - busy_0) / (total_1 - total_0)


def _openmp_spin_for_load() -> None:
    """Shorten libgomp's barrier spin (``GOMP_SPINCOUNT``) when other processes keep the CPUs busy, unless the user
    set it; only before torch loads libgomp."""
    if "torch" in sys.modules or "GOMP_SPINCOUNT" in os.environ:
        return
    others = cpu_use_of_others()
    if others is not None and others >= BUSY_CORES:
        os.environ["GOMP_SPINCOUNT"] = OPENMP_SPIN_COUNT
        logger.debug("other processes use %.1f cores: GOMP_SPINCOUNT=%s", others, OPENMP_SPIN_COUNT)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    level = root.level
    root.setLevel(logging.INFO if args.verbose else logging.WARNING)  # `automix` sets INFO; the summary says it
    try:
        return run(args)
    except (ValueError, OSError) as err:  # AudioError, InputError, ConfigError are ValueErrors
        print(f"automix mix: error: {_one_line(err)}", file=sys.stderr)
        return 2
    finally:
        root.setLevel(level)


if __name__ == "__main__":
    sys.exit(main())
