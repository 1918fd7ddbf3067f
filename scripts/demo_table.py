"""Print the headline numbers of an evaluation's summary.json as a markdown table (lower is better everywhere).

usage: python scripts/demo_table.py SUMMARY_JSON [--title TEXT]
"""
import argparse
import json
import sys

# (key in summary.json, column title): the stereo loss and the absolute-unit error of each metric family
COLUMNS = [("stereo_loss", "stereo loss Lb"), ("lufs_abs_lu", "loudness (LU)"),
           ("centroid_abs_hz", "centroid (Hz)"), ("contrast_m_abs_db", "contrast mid (dB)"),
           ("pan_t_abs", "panning"), ("rms_abs_db", "RMS (dB)"), ("crest_abs", "crest")]


def table(summary):
    """The markdown table: one row per system (baseline first), mean over the songs."""
    systems = summary["systems"]
    names = ["baseline"] + sorted(n for n in systems if n != "baseline")
    n_songs = systems["baseline"]["stereo_loss"]["n"]
    lines = [f"| system ({n_songs} songs, mean) | " + " | ".join(title for _, title in COLUMNS) + " |",
             "| --- |" + " ---: |" * len(COLUMNS)]
    for name in names:
        cells = [f"{systems[name][key]['mean']:.3g}" if key in systems[name] else "-" for key, _ in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary")
    parser.add_argument("--title", default="")
    args = parser.parse_args(argv)
    try:
        with open(args.summary) as f:
            summary = json.load(f)
    except (OSError, ValueError) as error:
        print(f"demo_table.py: cannot read {args.summary}: {error}", file=sys.stderr)
        return 2
    if args.title:
        print(f"   headline numbers, {args.title} (lower is better):")
    print(table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
