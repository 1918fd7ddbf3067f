"""``python -m automix.train CONFIG.py --results-folder DIR --folder-suffix NAME ...`` (also ``automix train``).

Wires files to the trainer: the config (with ``--set`` overrides), the data folders (``--data-dir``, else
``AUTOMIX_DATA_DIR``, else the config's ``DATA_DIR_TRAIN``/``DATA_DIR_VALID``, else the demo dataset
``<repo>/demo_data/wet``), the impulse responses of the augmentation (``--ir-dir``, else ``AUTOMIX_IR_DIR``, else
``<repo>/demo_data/irs/reverb``), the results folder ``DIR/results/NAME/``, weight initialization and resuming.
The same command runs under ``torchrun --nproc-per-node N`` (see :mod:`automix.train.distributed`).

Exit codes: 0 done, 1 the training failed, 2 bad input (config, data, weights file, results folder), one line
naming the thing and the fix.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import os
import sys
import time
from pathlib import Path

import torch

from automix.train import checkpoint, distributed

logger = logging.getLogger("automix.train")

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_DATA_DIR = REPO_ROOT / "demo_data" / "wet"
DEMO_IR_DIR = REPO_ROOT / "demo_data" / "irs" / "reverb"


class UsageError(ValueError):
    """Bad input from the command line; reported as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="automix train", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("config", type=Path, help="experiment config (a .py file defining `config`)")
    parser.add_argument("--results-folder", type=Path, default=Path("training"),
                        help="the run goes to RESULTS_FOLDER/results/FOLDER_SUFFIX/")
    parser.add_argument("--folder-suffix", help="name of the run folder (default: the config file's name)")
    parser.add_argument("--data-dir", type=Path, help="folder with train/ and val/ song folders "
                        "(default: $AUTOMIX_DATA_DIR, the config's DATA_DIR_*, or <repo>/demo_data/wet)")
    parser.add_argument("--ir-dir", type=Path, help="impulse responses <name>/impulse_response.wav for the "
                        "reverb augmentation (default: $AUTOMIX_IR_DIR or <repo>/demo_data/irs/reverb)")
    parser.add_argument("--load-into-memory", action="store_true", help="hold the --data-dir songs in memory")
    parser.add_argument("--weight-initialization", type=Path, metavar="FILE",
                        help="initial weights (.params): conv_1/conv_2 only for PRETRAIN_FRONT_END configs, "
                        "else a strict full load")
    parser.add_argument("--resume", action="store_true", help="continue the run in the results folder")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--amp", default="auto", choices=["auto", "off", "bf16", "fp16"],
                        help="autocast: auto = bf16 (else fp16 + GradScaler) on CUDA when USE_AMP, float32 on CPU")
    parser.add_argument("--seed", type=int, help="seed of the initialization, dropout and data (default 0; on "
                        "--resume the run's)")
    parser.add_argument("--workers", type=int, default=0, help="data-loader processes per rank")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads per process (default: all cores, shared by the ranks of a machine)")
    parser.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                        help="also write the resume checkpoint every N minibatches (default: once per epoch)")
    parser.add_argument("--audio-every", type=int, default=10, metavar="N",
                        help="TensorBoard audio and spectrograms every N epochs (0: never)")
    parser.add_argument("--description", default="", help="free text stored with the run")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (VALUE read as a Python literal); repeatable")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        info = distributed.setup(args.device)
    except ValueError as err:
        print(f"automix train: error: {err}", file=sys.stderr)
        return 2
    try:
        code = run(args, info)
        # every rank arrives before the process group is torn down: a rank destroying gloo while its peer still
        # writes the final checkpoint aborts the peer ("terminate called without an active exception")
        distributed.barrier(info)
        return code
    except UsageError as err:
        print(f"automix train: error: {err}", file=sys.stderr)
        return 2
    finally:
        close_log_file()
        distributed.cleanup()


def run(args, info: distributed.ProcessInfo) -> int:
    from automix.train.trainer import TrainingError

    try:
        trainer, dataset, validation, run_dir = prepare(args, info)
    except ValueError as err:  # ConfigError, data errors (find_songs, TrainingBatches), bad weights: bad input
        raise UsageError(str(err).strip().splitlines()[0]) from err
    config = trainer.config
    logger.info("training %s -> %s (%d epochs x %d minibatches of %d, %d process(es), %s)", args.config, run_dir,
                config["NUM_EPOCHS"], config["NUM_MINIBATCHES_PER_EPOCH"], config["BATCH_SIZE"], info.world_size,
                info.device)
    try:
        state = trainer.fit(dataset, validation)
    except TrainingError as err:
        logger.error("%s", err)
        return 1
    logger.info("done: best %s mean %.5g, median %.5g; weights in %s", trainer.validator.primary,
                state.best["mean"], state.best["median"], run_dir)
    return 0


def prepare(args, info):
    """Config, run folder, logging, data and the trainer (resumed when asked); bad input raises ValueError."""
    from automix.train.trainer import Trainer

    start_logging(info)
    config = load_experiment(args)
    run_dir = Path(args.results_folder) / "results" / (args.folder_suffix or args.config.stem)
    saved = check_run_dir(run_dir, args, info)
    seed = resolve_seed(args, saved)
    if saved is not None and checkpoint.config_differences(saved["config"], config):
        raise UsageError(f"{run_dir}: the config differs from the run's in "
                         f"{', '.join(checkpoint.config_differences(saved['config'], config))}; "
                         "resume with the run's config or start a run with another --folder-suffix")
    options = make_options(args, seed)
    dataset, validation = build_data(args, config, seed, info)
    model = build_network(args, config, seed, saved is None)
    open_log_file(run_dir, info)
    set_threads(info, args.threads)
    trainer = Trainer(model, config, options, info, run_dir)
    if saved is not None:
        trainer.load_checkpoint(saved)
    elif info.is_main:
        write_run_files(run_dir, args, config, seed, info)
    trainer.resumed = trainer.resumed or args.resume
    return trainer, dataset, validation, run_dir


def load_experiment(args) -> dict:
    from automix.config import load_config

    if not args.config.is_file():
        raise UsageError(f"config file not found: {args.config}")
    return load_config(args.config, args.set)  # ConfigError (a ValueError) names the file and the key


def check_run_dir(run_dir: Path, args, info) -> dict | None:
    """Refuse a non-empty run folder without ``--resume``; with it, return the resume checkpoint (or None)."""
    non_empty = run_dir.is_dir() and any(run_dir.iterdir())
    distributed.barrier(info)  # every rank has looked before rank 0 writes anything
    if non_empty and not args.resume:
        raise UsageError(f"results folder {run_dir} is not empty: use --resume to continue its run, or another "
                         "--folder-suffix / --results-folder")
    if not args.resume:
        return None
    saved = checkpoint.load_resume(run_dir) if run_dir.is_dir() else None
    if saved is None and info.is_main:
        logging.getLogger(__name__).warning("%s: no resume checkpoint; starting the run from the beginning", run_dir)
    return saved


def resolve_seed(args, saved: dict | None) -> int:
    if saved is None:
        return 0 if args.seed is None else args.seed
    if args.seed is not None and args.seed != saved["seed"]:
        raise UsageError(f"--seed {args.seed} differs from the resumed run's seed {saved['seed']}")
    return saved["seed"]


def make_options(args, seed: int):
    from automix.train.trainer import TrainOptions

    if min(args.workers, args.threads, args.checkpoint_every, args.audio_every) < 0:
        raise UsageError("--workers, --threads, --checkpoint-every and --audio-every must be >= 0")
    return TrainOptions(seed=seed, amp=args.amp, num_workers=args.workers, checkpoint_every=args.checkpoint_every,
                        audio_every=args.audio_every, progress=not args.no_progress)


def set_threads(info, threads: int) -> None:
    from automix.mixing import reuse_freed_memory

    reuse_freed_memory()  # large training temporaries reuse freed memory instead of page-faulting fresh maps
    if threads > 0:
        torch.set_num_threads(threads)
    elif info.device.type == "cpu" and info.distributed:  # ranks on one machine share its cores
        local = int(os.environ.get("LOCAL_WORLD_SIZE", info.world_size))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))


# ------------------------------------------------------------------------------------------------------ data
def data_folders(args, config: dict) -> tuple[list, list]:
    """``(DATA_DIR_TRAIN, DATA_DIR_VALID)`` pairs from ``--data-dir``, the environment, the config or the demo."""
    root = args.data_dir or os.environ.get("AUTOMIX_DATA_DIR")
    if root is None and config["DATA_DIR_TRAIN"]:
        folders = list(config["DATA_DIR_TRAIN"]), list(config["DATA_DIR_VALID"])
    else:
        root = Path(root) if root is not None else DEMO_DATA_DIR
        folders = [(str(root / "train"), args.load_into_memory)], [(str(root / "val"), args.load_into_memory)]
    for kind, pairs in zip(("training", "validation"), folders):
        if not pairs:
            raise UsageError(f"no {kind} data folder: give --data-dir D (with train/ and val/) or AUTOMIX_DATA_DIR")
        for folder, _ in pairs:
            if not Path(folder).is_dir():
                raise UsageError(f"{kind} data folder not found: {folder} (give --data-dir D with train/ and val/, "
                                 "or set AUTOMIX_DATA_DIR; the demo dataset is made by scripts/demo.sh)")
    return folders


def augmentation_for(args, config: dict):
    from automix.data.augment import build_augmentation

    spec = config.get("AUGMENTATION")
    if not spec:
        return None
    ir_dir = Path(args.ir_dir or os.environ.get("AUTOMIX_IR_DIR") or DEMO_IR_DIR)
    if not ir_dir.is_dir():
        raise UsageError(f"impulse-response folder not found: {ir_dir} (give --ir-dir or AUTOMIX_IR_DIR)")
    return build_augmentation(spec, ir_dir)


class ValidationItems:
    """Re-iterable ``(name, inputs, targets)`` of the validation songs of this rank (read afresh each time)."""

    def __init__(self, songs, config: dict):
        self.songs, self.config = songs, config

    def __iter__(self):
        from automix.data import validation_songs

        return validation_songs(self.songs, self.config["INPUTS"], self.config["OUTPUTS"],
                                self.config["MAX_VALIDATION_SEQ_LENGTH_TD"], multiple=self.config["HOP_LENGTH"])

    def __len__(self) -> int:
        return len(self.songs)


def build_data(args, config: dict, seed: int, info):
    """The training dataset (this rank's slice of every minibatch) and this rank's validation songs."""
    from automix.data import TrainingBatches, find_songs

    train_folders, valid_folders = data_folders(args, config)
    names = list(config["INPUTS"]) + list(config["OUTPUTS"])
    train_songs, valid_songs = find_songs(train_folders, names), find_songs(valid_folders, names)
    dataset = TrainingBatches(
        train_songs, config["INPUTS"], config["OUTPUTS"], config["TRAINING_SEQ_LENGTH"], config["BATCH_SIZE"],
        config["NUM_MINIBATCHES_PER_EPOCH"], seed, shuffle_channels=config["SHUFFLE_CHANNELS"],
        shuffle_stems=config["SHUFFLE_STEMS"], augmentation=augmentation_for(args, config), rank=info.rank,
        world_size=info.world_size)
    logger.info("data: %d training songs from %s, %d validation songs from %s", len(train_songs),
                [f for f, _ in train_folders], len(valid_songs), [f for f, _ in valid_folders])
    return dataset, ValidationItems(valid_songs[info.rank::info.world_size], config)


# -------------------------------------------------------------------------------------------- network, files
def build_network(args, config: dict, seed: int, fresh: bool) -> torch.nn.Module:
    """The network, with ``--weight-initialization`` applied on a fresh start."""
    from automix.models import build_model, load_weights

    model = build_model(config, seed=seed)
    if args.weight_initialization is None or not fresh:
        return model
    path = args.weight_initialization
    try:
        state = checkpoint.load_weights_file(path)
        report = load_weights(model, state, front_end_only=config["PRETRAIN_FRONT_END"])
    except (KeyError, RuntimeError, ValueError) as err:
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(f"--weight-initialization {path}: {detail}") from err
    logger.info("initial weights from %s: %d tensors loaded, %d kept their initialization", path,
                len(report.loaded), len(report.kept))
    return model


_LOG_FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
_FILE_HANDLER = "automix-training-log"


def start_logging(info) -> None:
    """Log to stderr (rank 0; warnings only on the others) and hold the records for ``training.log``."""
    root = logging.getLogger()
    root.setLevel(logging.INFO if info.is_main else logging.WARNING)
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(_LOG_FORMAT)
        root.addHandler(handler)
    if info.is_main:  # the run folder is only made once the input is known to be good: keep the records till then
        buffer = logging.handlers.MemoryHandler(capacity=10000, flushLevel=logging.CRITICAL + 1)
        buffer.set_name(_FILE_HANDLER)
        root.addHandler(buffer)


def open_log_file(run_dir: Path, info) -> None:
    """Create the run folder and append the log (the held records first) to its ``training.log`` (rank 0)."""
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        checkpoint.remove_stale_temporaries(run_dir)
        handler = logging.FileHandler(run_dir / "training.log", encoding="utf-8")
        handler.setFormatter(_LOG_FORMAT)
        handler.set_name(_FILE_HANDLER)
        root = logging.getLogger()
        for buffer in [h for h in root.handlers if h.get_name() == _FILE_HANDLER]:
            buffer.setTarget(handler)
            buffer.flush()
            root.removeHandler(buffer)
        root.addHandler(handler)
    distributed.barrier(info)


def close_log_file() -> None:
    """Detach ``training.log`` from the root logger (several runs may share a process, e.g. in tests)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == _FILE_HANDLER]:
        root.removeHandler(handler)
        handler.close()


def write_run_files(run_dir: Path, args, config: dict, seed: int, info) -> None:
    """The config file's copy, the validated config as JSON, and how the run was started."""
    checkpoint.atomic_write_bytes(run_dir / "config.py", Path(args.config).read_bytes())
    checkpoint.atomic_write_text(run_dir / "config.json", json.dumps(config, indent=2, default=str) + "\n")
    settings = {"command": sys.argv, "config_file": str(args.config), "overrides": args.set,
                "description": args.description, "seed": seed, "world_size": info.world_size,
                "device": str(info.device), "amp": args.amp, "weight_initialization":
                    str(args.weight_initialization) if args.weight_initialization else None,
                "torch": torch.__version__, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    checkpoint.atomic_write_text(run_dir / "run.json", json.dumps(settings, indent=2) + "\n")
    if args.description:
        logger.info("description: %s", args.description)
