"""Command line for features files: ``automix features import OLD.npy NEW.npz``, ``plot`` and ``check``.

``import`` is the one explicit way to read the release's pickled ``features_MUSDB18.npy`` (it executes the pickle,
with a warning); values come through bit-exactly, marked ``mode: release``. ``plot`` draws the EQ and panning curves
per stem on a log-frequency axis and the loudness and compression targets. ``check FILE --input-folder DIR
[--mode M]`` says whether FILE is what a features pass (no reverb) on DIR in mode M would make (same songs, mode,
sample rate, FFT size, format version): exit 0 up to date, 1 to recompute (missing or stale; reason on one line),
2 bad arguments (e.g. an imported file of another mode, which cannot be recomputed). Other normalization options
after the check's own are ignored, so a script can pass its option list unchanged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from automix.atomic import refuse_existing
from automix.conventions import MODES, SAMPLE_RATE

STEM_COLOURS = {"vocals": "tab:red", "bass": "tab:blue", "drums": "tab:green", "other": "tab:orange"}


def plot_features(features: dict, metadata: dict, out_path, title: str | None = None) -> None:
    """Save a figure: EQ (dB) and panning similarity vs frequency, loudness and compression targets per stem."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sample_rate = metadata.get("sample_rate", SAMPLE_RATE)
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    (ax_eq, ax_pan), (ax_loud, ax_comp) = axes
    stems = list(features["eq"])
    for stem in stems:
        curve = np.asarray(features["eq"][stem], dtype=np.float64)
        freqs = np.linspace(0.0, sample_rate / 2, curve.size)
        keep = freqs >= 20.0
        colour = STEM_COLOURS.get(stem)
        ax_eq.semilogx(freqs[keep], 20 * np.log10(np.maximum(curve[keep], 1e-12)), label=stem, color=colour)
        ax_pan.semilogx(freqs[keep], np.asarray(features["panning"][stem])[keep], label=stem, color=colour)
    ax_eq.set(title="EQ: average magnitude at -30 LUFS", xlabel="frequency (Hz)", ylabel="dB")
    ax_pan.set(title="panning: stereo similarity (1 = centre)", xlabel="frequency (Hz)", ylabel="similarity")
    positions = np.arange(len(stems))
    loudness = [float(np.asarray(features["loudness"][s]).reshape(-1)[0]) for s in stems]
    ax_loud.bar(positions, loudness, color=[STEM_COLOURS.get(s) for s in stems])
    ax_loud.set(title="loudness target (LUFS)", xticks=positions, xticklabels=stems, ylabel="LUFS")
    comp = np.array([np.asarray(features["compression"][s], dtype=np.float64) for s in stems])
    ax_comp.errorbar(positions, comp[:, 0], yerr=comp[:, 1], fmt="o", capsize=6)
    ax_comp.set(title="compression target: top-quartile onset peaks, mean ± std", xticks=positions,
                xticklabels=stems, ylabel="dBFS (after -10 dBFS peak normalization)")
    for ax in (ax_eq, ax_pan):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(title or f"features (mode {metadata.get('mode')}, files {metadata.get('n_files')})"[:150],
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)


def features_status(path, input_folder, mode: str) -> str | None:
    """Why ``path`` must be recomputed by a features pass (no reverb) on ``input_folder`` in ``mode``, or None.

    Raises:
        FileNotFoundError, ValueError: missing split folder, a file that is not a features file, or an imported file
            (official features) that does not fit ``mode``: it cannot be recomputed from a split.
    """
    from automix.dataset import scan_songs
    from automix.fxnorm.features import features_mismatches, read_features_file

    names = sorted(song.name for song in scan_songs(input_folder, sample_rate=SAMPLE_RATE).songs)
    path = Path(path)
    if not path.exists():
        return f"{path} does not exist"
    _, metadata = read_features_file(path)
    mismatches = features_mismatches(metadata, mode)
    if metadata.get("imported") or str(metadata.get("source", "")).startswith("imported"):
        if mismatches:
            raise ValueError(f"{path}: imported features do not fit this run ({'; '.join(mismatches)}) and cannot be "
                             f"recomputed from {input_folder}; use mode {metadata.get('mode')!r} or another file")
        return None
    if mismatches:
        return f"{path}: {'; '.join(mismatches)}"
    if metadata.get("with_reverb"):
        return f"{path}: computed with the reverb send (the features pass has none)"
    stored = metadata.get("songs")
    if stored is None:
        return f"{path}: no song list in its metadata (written by an older automix)"
    if sorted(stored) != names:
        new, gone = sorted(set(names) - set(stored)), sorted(set(stored) - set(names))
        return (f"{path}: computed from other songs than {input_folder} ({len(new)} new, e.g. {new[:3]}; "
                f"{len(gone)} gone, e.g. {gone[:3]})")
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="automix features", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    convert = commands.add_parser("import", help="convert the release's pickled features .npy to a safe .npz "
                                  "(executes the pickle: only for a file you trust)")
    convert.add_argument("old", help="legacy features_MUSDB18.npy")
    convert.add_argument("new", help="output .npz")
    convert.add_argument("--overwrite", action="store_true", help="replace NEW if it exists (default: refuse, exit 2)")
    plot = commands.add_parser("plot", help="plot a features .npz")
    plot.add_argument("file", help="features .npz")
    plot.add_argument("-o", "--output", required=True, help="figure path (.png, .pdf, ...)")
    check = commands.add_parser("check", help="is FILE up to date for a features pass on a split? exit 0 yes, 1 "
                                "recompute, 2 bad arguments (other normalization options are ignored)")
    check.add_argument("file", help="features .npz (may be missing: exit 1)")
    check.add_argument("--input-folder", required=True, help="the split the features come from (train)")
    check.add_argument("--mode", choices=MODES, default="fixed", help="mode of the run")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "check":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    from automix.fxnorm.features import import_legacy_features, read_features_file

    try:
        if args.command == "check":
            reason = features_status(args.file, args.input_folder, args.mode)
            if reason:
                print(f"features out of date: {reason}")
                return 1
            failed = read_features_file(args.file)[1].get("failed_songs") or {}
            print(f"features up to date: {args.file}" + (f" (made without {len(failed)} songs that failed: "
                  f"{', '.join(sorted(failed))}; recompute them to retry)" if failed else ""))
            return 0
        if args.command == "import":
            refuse_existing(args.new, args.overwrite)
            print(f"WARNING: reading {args.old} executes the pickle stored in it; only do this with a trusted file",
                  file=sys.stderr)
            import_legacy_features(args.old, args.new)
            print(f"wrote {args.new}")
        else:
            features, metadata = read_features_file(args.file)  # as stored, whatever mode it was made for
            plot_features(features, metadata, args.output, title=f"{args.file}")
            print(f"wrote {args.output}")
    except (OSError, ValueError) as err:
        print(f"automix features: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
