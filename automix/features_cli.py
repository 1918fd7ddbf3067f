"""Command line for features files: ``automix features import OLD.npy NEW.npz`` and ``automix features plot``.

``import`` is the one explicit way to read the release's pickled ``features_MUSDB18.npy`` (it executes the pickle,
with a warning); values come through bit-exactly. ``plot`` draws the EQ and panning curves per stem on a
log-frequency axis and the loudness and compression targets.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

STEM_COLOURS = {"vocals": "tab:red", "bass": "tab:blue", "drums": "tab:green", "other": "tab:orange"}


def plot_features(features: dict, metadata: dict, out_path, title: str | None = None) -> None:
    """Save a figure: EQ (dB) and panning similarity vs frequency, loudness and compression targets per stem."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sample_rate = metadata.get("sample_rate", 44100)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="automix features", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    convert = commands.add_parser("import", help="convert the release's pickled features .npy to a safe .npz "
                                  "(executes the pickle: only for a file you trust)")
    convert.add_argument("old", help="legacy features_MUSDB18.npy")
    convert.add_argument("new", help="output .npz")
    plot = commands.add_parser("plot", help="plot a features .npz")
    plot.add_argument("file", help="features .npz")
    plot.add_argument("-o", "--output", required=True, help="figure path (.png, .pdf, ...)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from automix.fxnorm.features import import_legacy_features, load_features

    try:
        if args.command == "import":
            print(f"WARNING: reading {args.old} executes the pickle stored in it; only do this with a trusted file",
                  file=sys.stderr)
            import_legacy_features(args.old, args.new)
            print(f"wrote {args.new}")
        else:
            features, metadata = load_features(args.file, mode="fixed")
            plot_features(features, metadata, args.output, title=f"{args.file}")
            print(f"wrote {args.output}")
    except (OSError, ValueError) as err:
        print(f"automix features: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
