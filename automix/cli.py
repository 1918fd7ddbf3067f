"""The `automix` console command: a thin dispatcher to the modules' own command-line interfaces.

Each subcommand is a module with ``main(argv=None) -> int``; ``automix SUBCOMMAND --help`` shows its options.
"""
from __future__ import annotations

import importlib
import logging
import sys

SUBCOMMANDS = {
    "demo-data": ("automix.demo.data", "generate the demo multitrack dataset"),
    "normalize": ("automix.data_normalization", "effect-normalize a dataset (features and/or stems)"),
    "features": ("automix.features_cli", "import, inspect or plot a dataset-average features file"),
    "train": ("automix.train.cli", "train a network on an experiment config (also under torchrun)"),
    "mix": ("automix.inference", "mix stems with a trained network (or the normalized baseline sum)"),
    "evaluate": ("automix.evaluate", "evaluate mixing systems on a test split: metrics, report page"),
}


def _usage() -> str:
    lines = ["usage: automix SUBCOMMAND [options]", "", "subcommands:"]
    lines += [f"  {name:<12} {help_text}" for name, (_, help_text) in SUBCOMMANDS.items()]
    lines.append("\n'automix SUBCOMMAND --help' shows the options of one subcommand.")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"automix: unknown subcommand {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    module = importlib.import_module(SUBCOMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
