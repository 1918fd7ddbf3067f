"""Print the headline numbers of an evaluation's summary.json as markdown tables (lower is better everywhere).

usage: python scripts/demo_table.py SUMMARY_JSON [--title TEXT]

The first table holds the stereo loss and one absolute-unit error per metric family. The second says, per family,
whether a system beats the normalized-sum baseline: the family's score is the geometric mean, over all its features,
of ``system error / baseline error`` (absolute units, spec §6; means over the songs), so every feature counts the same
whatever its unit; below 1 beats the baseline.
"""
import argparse
import json
import math
import sys

# (key in summary.json, column title): the stereo loss and the absolute-unit error of each metric family
COLUMNS = [("stereo_loss", "stereo loss Lb"), ("lufs_abs_lu", "loudness (LU)"),
           ("centroid_abs_hz", "centroid (Hz)"), ("contrast_m_abs_db", "contrast mid (dB)"),
           ("pan_t_abs", "panning"), ("rms_abs_db", "RMS (dB)"), ("crest_abs", "crest")]


# the absolute-unit error of every feature of each family (metric names of automix.evaluation.metrics)
FAMILIES = {
    "loudness": ("lufs_abs_lu", "peak_abs_db"),
    "spectral": ("centroid_abs_hz", "bandwidth_abs_hz", "contrast_l_abs_db", "contrast_m_abs_db",
                 "contrast_h_abs_db", "rolloff_abs_hz", "flatness_abs_db"),
    "panning": ("pan_t_abs", "pan_l_abs", "pan_m_abs", "pan_h_abs"),
    "dynamics": ("rms_abs_db", "dyn_abs_db", "crest_abs", "l_ratio_abs"),
}


def family_ratios(summary, system):
    """``{family: geometric mean of system/baseline error}`` over the features both have (None: none usable)."""
    systems = summary["systems"]
    ratios = {}
    for family, keys in FAMILIES.items():
        logs = [math.log(systems[system][k]["mean"] / systems["baseline"][k]["mean"]) for k in keys
                if k in systems[system] and k in systems["baseline"] and systems["baseline"][k]["mean"] > 0
                and systems[system][k]["mean"] > 0]
        ratios[family] = math.exp(sum(logs) / len(logs)) if logs else None
    return ratios


def family_table(summary):
    """Markdown table: per system, each family's error ratio to the baseline and how many families it beats."""
    names = sorted(n for n in summary["systems"] if n != "baseline")
    lines = ["| system | stereo loss / baseline | " + " | ".join(FAMILIES) + " | families beaten |",
             "| --- |" + " ---: |" * (len(FAMILIES) + 2)]
    base_loss = summary["systems"]["baseline"].get("stereo_loss", {}).get("mean")
    for name in names:
        ratios = family_ratios(summary, name)
        loss = summary["systems"][name].get("stereo_loss", {}).get("mean")
        loss_cell = f"{loss / base_loss:.2f}" if loss is not None and base_loss else "-"
        beaten = sum(1 for r in ratios.values() if r is not None and r < 1)
        cells = [f"{r:.2f}" if r is not None else "-" for r in ratios.values()]
        lines.append(f"| {name} | {loss_cell} | " + " | ".join(cells) + f" | {beaten}/{len(FAMILIES)} |")
    return "\n".join(lines)


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
    print()
    print("Each system's errors divided by the normalized-sum baseline's (geometric mean over each family's features; "
          "< 1 beats it):")
    print()
    print(family_table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
