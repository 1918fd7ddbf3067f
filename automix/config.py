"""Experiment configs: plain Python files under ``configs/`` that define one dict named ``config``.

Keys keep the original release's names, so official configs and checkpoints map one to one (see
``configs/ISMIR/*.py`` and ``configs/README.md``). :func:`load_config` imports the file in its own module namespace
(never ``exec`` into the caller's globals), applies command-line overrides, fills defaults and derived values and
validates: an unknown key, a wrong type or value, or a derived value that disagrees with its source is a
:class:`ConfigError` naming the file and the key. This module never imports torch.

Defaults, including the ones that depend on other keys, have one definition: :func:`setting`, which
:func:`validate_config` and :func:`automix.models.build_model` both use, so a raw dict and its validated version
describe the same network (``PRETRAIN`` defaults to ``NET_TYPE == "CAFX_TDCN"``, ``LOSS`` to ``"td_l1"`` when
pre-training and ``"Lb"`` otherwise, ``TARGETS`` to ``[("mixture",)]`` when pre-training and ``[tuple(OUTPUTS)]``
otherwise).

Derived values (computed, checked when given): ``SOURCES = INPUTS + OUTPUTS``, ``N_BINS = FFT_SIZE // 2 + 1``,
``GUARD_LEFT = GUARD_RIGHT`` = the network's guard band (32,446 samples for FxNorm-Automix, 32,540 for the
Wave-U-Net config), ``LOSS_GUARD_FRAMES`` (30 for the ISMIR configs), ``LR_SCHEDULE = [(WARMUP_EPOCHS, 0.0)] +
LEARNING_RATES`` and ``NUM_EPOCHS`` = its total. For Wave-U-Net, ``OUTPUT_SEQ_LENGTH`` defaults to
``TRAINING_SEQ_LENGTH - 68``; a given value is kept (the release sizes the network from it) and a mismatch is logged.
"""
from __future__ import annotations

import argparse
import ast
import difflib
import importlib.util
import logging
from pathlib import Path

from automix import receptive_field

logger = logging.getLogger(__name__)

_NUMBER = (int, float)
_SEQUENCE = (list, tuple)


class _Rule:
    """A default computed from the other keys of the config (through :func:`setting`)."""

    def __init__(self, compute):
        self.compute = compute


REQUIRED = object()
LOSSES = ("La", "Lb", "td_l1")  # stereo losses La/Lb (spec §4.3), time-domain L1 (front-end pre-training)
NET_TYPES = ("CAFX_TDCN_MIX", "CAFX_TDCN", "WAVEUNET")


def _lr_schedule(config: dict) -> list:
    warmup = setting(config, "WARMUP_EPOCHS")
    return ([(warmup, 0.0)] if warmup else []) + list(setting(config, "LEARNING_RATES"))


def _default_learning_rates(config: dict) -> list:
    """One phase at INITIAL_LEARNING_RATE: 1 epoch, or what a given NUM_EPOCHS leaves after the warm-up."""
    lr = float(setting(config, "INITIAL_LEARNING_RATE"))
    if "NUM_EPOCHS" not in config:
        return [(1, lr)]
    warmup = setting(config, "WARMUP_EPOCHS")
    n_epochs = setting(config, "NUM_EPOCHS") - warmup
    if n_epochs < 1:
        raise ConfigError(f"NUM_EPOCHS = {config['NUM_EPOCHS']} leaves no epoch after the {warmup} warm-up "
                          "epoch(s) of WARMUP_EPOCHS; give LEARNING_RATES or a larger NUM_EPOCHS")
    return [(n_epochs, lr)]


def _initial_learning_rate(config: dict) -> float:
    return setting(config, "LEARNING_RATES")[0][1] if "LEARNING_RATES" in config else 1e-3


def _wave_u_net_output_length(config: dict) -> int:
    shrink = receptive_field.wave_u_net_shrink(setting(config, "KERNEL_SIZE_ENCODER"), setting(config, "LEVELS"))
    length = setting(config, "TRAINING_SEQ_LENGTH")
    if length <= shrink:
        raise ConfigError(f"TRAINING_SEQ_LENGTH {length} must exceed the Wave-U-Net shrink of {shrink} samples")
    return length - shrink


def _loss_guard(config: dict) -> int:
    return receptive_field.loss_guard_frames(receptive_field.guard_samples_for_config(config),
                                             setting(config, "FFT_SIZE"), setting(config, "HOP_LENGTH"))


# key -> (accepted types, default): a value, REQUIRED, or a _Rule computing it from the other keys
SCHEMA = {
    "NET_TYPE": (str, REQUIRED),
    "INPUTS": (_SEQUENCE, REQUIRED),
    "OUTPUTS": (_SEQUENCE, REQUIRED),
    "TRAINING_SEQ_LENGTH": (int, REQUIRED),
    "N_CHANNELS": (int, 2),
    "PRETRAIN": (bool, _Rule(lambda c: setting(c, "NET_TYPE") == "CAFX_TDCN")),
    "LOSS": (str, _Rule(lambda c: "td_l1" if setting(c, "PRETRAIN") else "Lb")),  # automix key: training loss
    "PRETRAIN_FRONT_END": (bool, False),
    # FxNorm-Automix
    "N_FEATURES_ENCODER": (int, 128), "KERNEL_SIZE_ENCODER": (int, 64), "MAX_POOLING": (int, 64),
    "N_FEATURES_SEPARATION_MODULE": (int, 256), "N_FEATURES_OUT": (int, 64), "N_FEATURES_TB": (int, 128),
    "KERNEL_SIZE_TB": (int, 3), "N_TB_PER_REPEAT": (int, 6), "N_REPEATS": (int, 4), "SE_AMP_RATIO": (int, 16),
    # Wave-U-Net
    "LEVELS": (int, 5), "STRIDES": (int, 1), "FEATURE_GROWTH": (str, "double"), "CONV_TYPE": (str, "gn"),
    "RES": (str, "fixed"), "DEPTH": (int, 1), "OUTPUT_SEQ_LENGTH": (int, _Rule(_wave_u_net_output_length)),
    # data
    "DATA_DIR_TRAIN": (_SEQUENCE, ()), "DATA_DIR_VALID": (_SEQUENCE, ()),  # (folder, load_into_memory) pairs
    # losses and training
    "FFT_SIZE": (int, 4096), "HOP_LENGTH": (int, 1024), "BATCH_SIZE": (int, 4),
    "INITIAL_LEARNING_RATE": (_NUMBER, _Rule(_initial_learning_rate)),
    "LEARNING_RATES": (_SEQUENCE, _Rule(_default_learning_rates)),  # (n_epochs, lr) pairs after the warm-up
    "WARMUP_EPOCHS": (int, 1),  # epochs at lr 0 before LEARNING_RATES (Adam statistics warm up, spec §5.3)
    "NUM_MINIBATCHES_PER_EPOCH": (int, 1600), "L2_REGULARIZATION": (_NUMBER, 1e-7),
    "GRAD_CLIP_NORM_TYPE": (_NUMBER, 2), "GRAD_CLIP_MAX_NORM": (_NUMBER, 0.2), "AMSGRAD": (bool, True),
    "USE_AMP": (bool, True), "SHUFFLE_STEMS": (bool, False), "SHUFFLE_CHANNELS": (bool, True),
    "AUGMENTER_SOURCES": (_SEQUENCE, ()), "SAVE_NET_AT_EPOCHS": (_SEQUENCE, ()),
    # automix key: on-the-fly augmentation of every input stem, a spec of automix.data.augment.build_augmentation
    "AUGMENTATION": ((list, tuple, dict), ()),
    "BATCHED_VALID": (bool, True), "BATCHED_TEST": (bool, False), "MAX_VALIDATION_SEQ_LENGTH_TD": (int, 10584000),
    "MAX_PROCESSED_FREQUENCY": (_NUMBER, 16000.0), "N_BINS_KEEP": (int, 1486),
    # accepted for compatibility with the release's configs; no effect here
    "DEBUG": (bool, False), "CALCULATE_STATISTICS": (bool, True), "TENSORBOARD": (bool, True),
    "CUDNN_BENCHMARK": (bool, True), "NUM_DATAPROVIDING_PROCESSES": (int, 1),
    "NUM_MINIBATCHES_FOR_STATISTICS_ESTIMATION": (int, 1000),
    # target groups; name the checkpoints ("mixture" also for the release's pre-training)
    "TARGETS": (_SEQUENCE, _Rule(lambda c: [("mixture",)] if setting(c, "PRETRAIN")
                                 else [tuple(setting(c, "OUTPUTS"))])),
    # derived: checked against the rule when given
    "SOURCES": (_SEQUENCE, _Rule(lambda c: list(setting(c, "INPUTS")) + list(setting(c, "OUTPUTS")))),
    "N_BINS": (int, _Rule(lambda c: setting(c, "FFT_SIZE") // 2 + 1)),
    "GUARD_LEFT": (int, _Rule(receptive_field.guard_samples_for_config)),
    "GUARD_RIGHT": (int, _Rule(receptive_field.guard_samples_for_config)),
    "LOSS_GUARD_FRAMES": (int, _Rule(_loss_guard)),  # StereoLoss(guard_frames=...), spec §5.5
    "LR_SCHEDULE": (_SEQUENCE, _Rule(_lr_schedule)),  # (n_epochs, lr) pairs including the warm-up
    "NUM_EPOCHS": (int, _Rule(lambda c: sum(n for n, _ in _lr_schedule(c)))),
}
DERIVED = ("SOURCES", "N_BINS", "GUARD_LEFT", "GUARD_RIGHT", "LOSS_GUARD_FRAMES", "LR_SCHEDULE", "NUM_EPOCHS")
_DERIVED_HINTS = {"NUM_EPOCHS": "NUM_EPOCHS follows from WARMUP_EPOCHS + LEARNING_RATES; change LEARNING_RATES",
                  "LR_SCHEDULE": "LR_SCHEDULE follows from WARMUP_EPOCHS + LEARNING_RATES; change those"}
_FXNORM_KEYS = {"N_FEATURES_SEPARATION_MODULE", "N_FEATURES_OUT", "N_FEATURES_TB", "KERNEL_SIZE_TB", "N_TB_PER_REPEAT",
                "N_REPEATS", "SE_AMP_RATIO", "MAX_POOLING"}
_WAVE_U_NET_KEYS = {"LEVELS", "STRIDES", "FEATURE_GROWTH", "CONV_TYPE", "RES", "DEPTH", "OUTPUT_SEQ_LENGTH"}
_NETWORK_DEFAULTS = {"WAVEUNET": {"N_FEATURES_ENCODER": 24, "KERNEL_SIZE_ENCODER": 5}}


class ConfigError(ValueError):
    """A config is invalid; the message names the file (or source) and the key."""


# --------------------------------------------------------------------------------------------- value checks
def _check_positive(value, minimum=1):
    return None if value >= minimum else f"must be >= {minimum}"


def _check_names(value):
    if not all(isinstance(v, str) and v for v in value):
        return "must be a list of non-empty strings (file names of stems)"
    return None


def _check_pairs(value, first, second, what):
    good = all(isinstance(v, _SEQUENCE) and len(v) == 2 and first(v[0]) and second(v[1]) for v in value)
    return None if good else f"must be a list of {what} pairs"


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
    return isinstance(v, _NUMBER) and not isinstance(v, bool)


def _check_one_of(*choices):
    return lambda value: None if value in choices else f"must be one of {choices}"


def _check_targets(value):
    if not value or not all(isinstance(group, _SEQUENCE) and group and _check_names(group) is None
                            for group in value):
        return "must be a non-empty list of target groups, each a non-empty tuple of names, e.g. [('mixture',)]"
    if len(value) != 1:
        return "has several target groups; only one group (one network) per experiment is supported"
    return None


def _check_schedule(value):
    error = _check_pairs(value, lambda n: _is_int(n) and n >= 1, lambda lr: _is_number(lr) and lr >= 0,
                         "(n_epochs >= 1, learning rate >= 0)")
    return error or (None if value else "must not be empty")


_EXAMPLES = {"DATA_DIR_TRAIN": " of (folder, load_into_memory) pairs, e.g. [('data/train', False)]",
             "DATA_DIR_VALID": " of (folder, load_into_memory) pairs, e.g. [('data/val', False)]",
             "LEARNING_RATES": " of (n_epochs, lr) pairs, e.g. [(150, 1e-3), (50, 1e-3 / 3)]"}
_SIZE_KEYS = ("TRAINING_SEQ_LENGTH", "N_CHANNELS", "N_FEATURES_ENCODER", "KERNEL_SIZE_ENCODER", "MAX_POOLING",
              "N_FEATURES_SEPARATION_MODULE", "N_FEATURES_OUT", "N_FEATURES_TB", "KERNEL_SIZE_TB", "N_TB_PER_REPEAT",
              "N_REPEATS", "SE_AMP_RATIO", "LEVELS", "STRIDES", "DEPTH", "OUTPUT_SEQ_LENGTH", "FFT_SIZE",
              "HOP_LENGTH", "BATCH_SIZE", "NUM_MINIBATCHES_PER_EPOCH", "MAX_VALIDATION_SEQ_LENGTH_TD", "N_BINS_KEEP",
              "NUM_DATAPROVIDING_PROCESSES", "NUM_MINIBATCHES_FOR_STATISTICS_ESTIMATION", "N_BINS", "NUM_EPOCHS")
_CHECKS = {
    **{key: _check_positive for key in _SIZE_KEYS},
    **{key: (lambda v: _check_positive(v, 0)) for key in ("WARMUP_EPOCHS", "L2_REGULARIZATION", "GUARD_LEFT",
                                                          "GUARD_RIGHT", "LOSS_GUARD_FRAMES")},
    **{key: (lambda v: None if v > 0 else "must be > 0") for key in ("INITIAL_LEARNING_RATE", "GRAD_CLIP_MAX_NORM",
                                                                     "GRAD_CLIP_NORM_TYPE",
                                                                     "MAX_PROCESSED_FREQUENCY")},
    "NET_TYPE": _check_one_of(*NET_TYPES), "LOSS": _check_one_of(*LOSSES),
    "INPUTS": lambda v: _check_names(v) or (None if v else "must name at least one stem"),
    "OUTPUTS": lambda v: _check_names(v) or (None if v else "must name at least one target"),
    "SOURCES": _check_names, "AUGMENTER_SOURCES": _check_names, "TARGETS": _check_targets,
    "FEATURE_GROWTH": _check_one_of("double", "add"),
    # other Wave-U-Net variants of the release are not implemented (the ISMIR baseline uses these)
    "CONV_TYPE": _check_one_of("gn"), "RES": _check_one_of("fixed"), "STRIDES": _check_one_of(1),
    "DEPTH": _check_one_of(1),
    "LEARNING_RATES": _check_schedule, "LR_SCHEDULE": _check_schedule,
    **{key: (lambda v: _check_pairs(v, lambda f: isinstance(f, str) and f, lambda m: isinstance(m, bool),
                                    "(folder: str, load_into_memory: bool)"))
       for key in ("DATA_DIR_TRAIN", "DATA_DIR_VALID")},
    "SAVE_NET_AT_EPOCHS": lambda v: None if all(_is_int(e) and e >= 0 for e in v) else "must list epochs (int >= 0)",
    "AUGMENTATION": lambda v: None if isinstance(v, dict) or all(isinstance(e, dict) for e in v) else
    "must be a list of effect dicts (automix.data.augment.build_augmentation)",
}


def _check_value(key: str, value, source: str):
    """Type and range check of one value; returns it normalized (pair lists as lists of tuples)."""
    types = SCHEMA[key][0]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
        raise ConfigError(f"{source}: {key} must be {_type_name(types)}{_EXAMPLES.get(key, '')}, got {value!r}")
    error = _CHECKS[key](value) if key in _CHECKS else None
    if error:
        raise ConfigError(f"{source}: {key} {error}, got {value!r}")
    if key in ("LEARNING_RATES", "LR_SCHEDULE"):
        return [(int(n), float(lr)) for n, lr in value]
    if key in ("DATA_DIR_TRAIN", "DATA_DIR_VALID"):
        return [(str(folder), bool(in_memory)) for folder, in_memory in value]
    if key == "TARGETS":
        return [tuple(group) for group in value]
    return list(value) if isinstance(value, _SEQUENCE) else value


# ------------------------------------------------------------------------------------------------- defaults
def setting(config: dict, key: str, source: str = "config"):
    """Value of ``key`` in ``config`` (raw or validated), checked, or its default for that config.

    The one definition of every default: :func:`validate_config` fills a config with it and
    :func:`automix.models.build_model` reads raw dicts through it.

    Raises:
        ConfigError: unknown key, a key of the other network type, a required key missing, a bad value.
    """
    if key not in SCHEMA:
        raise ConfigError(f"{source}: unknown key {_with_hint(key)}")
    if key in config:
        return _check_value(key, config[key], source)
    default = SCHEMA[key][1]
    net_type = config.get("NET_TYPE")
    if key != "NET_TYPE" and key in (_FXNORM_KEYS if net_type == "WAVEUNET" else _WAVE_U_NET_KEYS):
        raise ConfigError(f"{source}: {key} is not used by NET_TYPE {net_type}")
    default = _NETWORK_DEFAULTS.get(net_type, {}).get(key, default)
    if default is REQUIRED:
        raise ConfigError(f"{source}: required key {key} is missing")
    return default.compute(config) if isinstance(default, _Rule) else default


# ----------------------------------------------------------------------------------------------- validation
def validate_config(config: dict, source: str = "config") -> dict:
    """Check keys and values, fill defaults and derived values; returns a new dict (the input is not modified).

    Idempotent: validating a validated config gives the same dict. Raises :class:`ConfigError` naming ``source``
    and the key; logs a warning where a working config looks inconsistent.
    """
    unknown = [key for key in config if key not in SCHEMA]
    if unknown:
        raise ConfigError(f"{source}: unknown key(s): {', '.join(_with_hint(k) for k in unknown)}")
    net_type = setting(config, "NET_TYPE", source)
    other_network_keys = _FXNORM_KEYS if net_type == "WAVEUNET" else _WAVE_U_NET_KEYS
    misplaced = sorted(other_network_keys & set(config))
    if misplaced:
        raise ConfigError(f"{source}: key(s) {', '.join(misplaced)} are not used by NET_TYPE {net_type}")
    missing = [key for key, (_, default) in SCHEMA.items() if default is REQUIRED and key not in config]
    if missing:
        raise ConfigError(f"{source}: " + "; ".join(f"required key {key} is missing" for key in missing))
    for key in SCHEMA:  # the given values, before any rule uses them
        if key in config:
            setting(config, key, source)
    if setting(config, "WARMUP_EPOCHS") and config.get("LEARNING_RATES") and config["LEARNING_RATES"][0][1] == 0:
        raise ConfigError(f"{source}: LEARNING_RATES starts with {tuple(config['LEARNING_RATES'][0])!r} at lr 0, "
                          "but the warm-up is added by WARMUP_EPOCHS; remove that entry or set WARMUP_EPOCHS=0")
    result = {}
    for key in SCHEMA:
        if key not in other_network_keys:
            try:
                value = setting(config, key, source)
            except ConfigError as err:
                if str(err).startswith(f"{source}: "):
                    raise
                raise ConfigError(f"{source}: {err}") from err  # a rule found its inputs inconsistent
            result[key] = _check_value(key, value, source)
    for key in DERIVED:
        if key in config and _normalized(config[key]) != _normalized(SCHEMA[key][1].compute(config)):
            hint = _DERIVED_HINTS.get(key, "remove it or fix it")
            raise ConfigError(f"{source}: {key} = {config[key]!r} disagrees with the value derived from the other "
                              f"keys ({SCHEMA[key][1].compute(config)!r}); {hint}")
    _check_consistency(result, config, source)
    return result


def _check_consistency(config: dict, given: dict, source: str) -> None:
    """Checks across keys: errors for what would fail later, warnings for what merely looks odd."""
    net_type, length = config["NET_TYPE"], config["TRAINING_SEQ_LENGTH"]
    if net_type == "WAVEUNET":
        _check_wave_u_net(config, source)
    else:
        if length % config["MAX_POOLING"]:
            raise ConfigError(f"{source}: TRAINING_SEQ_LENGTH {length} must be a multiple of MAX_POOLING "
                              f"{config['MAX_POOLING']} (the FxNorm-Automix input length)")
        if config["N_FEATURES_ENCODER"] % 2:
            raise ConfigError(f"{source}: N_FEATURES_ENCODER must be even (the BLSTM has N/2 units per direction)")
        if config["PRETRAIN"] != (net_type == "CAFX_TDCN"):
            logger.warning("%s: NET_TYPE %s with PRETRAIN %s builds the %s network", source, net_type,
                           config["PRETRAIN"], "pre-training" if config["PRETRAIN"] else "mixing")
    if config["PRETRAIN"] and len(config["OUTPUTS"]) != len(config["INPUTS"]):
        raise ConfigError(f"{source}: OUTPUTS has {len(config['OUTPUTS'])} names but the pre-training network "
                          f"reconstructs each of the {len(config['INPUTS'])} INPUTS; list one target per input")
    if not config["PRETRAIN"] and len(config["TARGETS"][0]) != len(config["OUTPUTS"]):
        raise ConfigError(f"{source}: TARGETS[0] has {len(config['TARGETS'][0])} names but OUTPUTS "
                          f"{len(config['OUTPUTS'])}: the mixing network makes one output per target")
    _check_lengths(config, source)
    schedule = config["LEARNING_RATES"]
    if "INITIAL_LEARNING_RATE" in given and "LEARNING_RATES" in given and \
            config["INITIAL_LEARNING_RATE"] != schedule[0][1]:
        logger.warning("%s: INITIAL_LEARNING_RATE %g has no effect: LEARNING_RATES (first lr %g) sets the schedule",
                       source, config["INITIAL_LEARNING_RATE"], schedule[0][1])


def _check_wave_u_net(config: dict, source: str) -> None:
    if config["PRETRAIN"] or config["PRETRAIN_FRONT_END"]:
        raise ConfigError(f"{source}: PRETRAIN and PRETRAIN_FRONT_END must be False for NET_TYPE WAVEUNET (no "
                          "front-end pre-training)")
    if config["KERNEL_SIZE_ENCODER"] % 2 == 0:
        raise ConfigError(f"{source}: KERNEL_SIZE_ENCODER must be odd for the Wave-U-Net (centred valid convs)")
    if config["N_FEATURES_ENCODER"] % 8:
        raise ConfigError(f"{source}: N_FEATURES_ENCODER must be a multiple of 8 for the Wave-U-Net (group norm of "
                          "8 channels)")
    shrink = receptive_field.wave_u_net_shrink(config["KERNEL_SIZE_ENCODER"], config["LEVELS"])
    output, length = config["OUTPUT_SEQ_LENGTH"], config["TRAINING_SEQ_LENGTH"]
    if length - shrink != output:
        logger.warning("%s: OUTPUT_SEQ_LENGTH %d + the Wave-U-Net shrink %d = %d input samples (how the release "
                       "sizes the network) differs from TRAINING_SEQ_LENGTH %d", source, output, shrink,
                       output + shrink, length)


def _check_lengths(config: dict, source: str) -> None:
    """Training segments must survive the loss guards and the batched validation windows."""
    length, guard = config["TRAINING_SEQ_LENGTH"], config["GUARD_LEFT"]
    output = length  # the network's output for one training segment
    if config["NET_TYPE"] == "WAVEUNET":
        output -= receptive_field.wave_u_net_shrink(config["KERNEL_SIZE_ENCODER"], config["LEVELS"])
    if config["LOSS"] == "td_l1" and output <= 2 * guard:
        raise ConfigError(f"{source}: TRAINING_SEQ_LENGTH {length} leaves nothing inside the time-domain loss "
                          f"guards of {guard} samples each side; need more than {2 * guard}")
    n_fft, hop, frames = config["FFT_SIZE"], config["HOP_LENGTH"], config["LOSS_GUARD_FRAMES"]
    if config["LOSS"] in ("La", "Lb") and (output < n_fft or 1 + (output - n_fft) // hop <= 2 * frames):
        need = n_fft + 2 * frames * hop
        raise ConfigError(f"{source}: TRAINING_SEQ_LENGTH {length} gives too few STFT frames (FFT_SIZE {n_fft}, "
                          f"HOP_LENGTH {hop}) for the {frames} LOSS_GUARD_FRAMES dropped at each end; the "
                          f"network output needs at least {need} samples")
    if (config["BATCHED_VALID"] or config["BATCHED_TEST"]) and length <= 2 * guard:
        raise ConfigError(f"{source}: TRAINING_SEQ_LENGTH {length} is the batched validation window; it must "
                          f"exceed the two guards of {guard} samples (or set BATCHED_VALID/BATCHED_TEST False)")


# ---------------------------------------------------------------------------------------- loading, overrides
def load_config(path, overrides=None) -> dict:
    """Import ``path`` (a Python file defining ``config = {...}``), apply overrides, return the validated dict.

    Args:
        path: the config file.
        overrides: ``{KEY: value}`` or a list of ``"KEY=VALUE"`` strings (see :func:`parse_overrides`); they
            replace the file's values before validation, so derived values follow them.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    spec = importlib.util.spec_from_file_location(f"automix_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # a syntax or runtime error inside the user's config file
        raise ConfigError(f"{path}: could not be imported: {err}") from err
    if not isinstance(getattr(module, "config", None), dict):
        raise ConfigError(f"{path}: must define a dict named 'config'")
    if not overrides:
        return validate_config(module.config, source=str(path))
    if not isinstance(overrides, dict):
        overrides = parse_overrides(overrides)
    unknown = [key for key in overrides if key not in SCHEMA]
    if unknown:
        raise ConfigError(f"{path}: unknown override key(s): {', '.join(_with_hint(k) for k in unknown)}")
    source = f"{path} (with overrides of {', '.join(overrides)})"
    return validate_config({**module.config, **overrides}, source=source)


def parse_overrides(items) -> dict:
    """``["KEY=VALUE", ...]`` -> ``{KEY: value}``; VALUE is a Python literal (``ast.literal_eval``), else a string.

    ``BATCH_SIZE=2`` gives an int, ``USE_AMP=False`` a bool, ``"LEARNING_RATES=[(2, 1e-3)]"`` a list of tuples,
    ``LOSS=La`` the string ``"La"``. A later item for the same key wins. Unknown keys raise :class:`ConfigError`
    with a close-match hint.
    """
    result = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected KEY=VALUE")
        if key not in SCHEMA:
            raise ConfigError(f"override {item!r}: unknown key {_with_hint(key)}")
        try:
            result[key] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            result[key] = text.strip()  # a plain word, e.g. LOSS=La
    return result


def add_config_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the repeatable ``--set KEY=VALUE`` option (``args.overrides``, a list) to a command line.

    Use: ``load_config(args.config, overrides=args.overrides)``.
    """
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (repeatable); VALUE is a Python literal or a plain string, "
                             "e.g. --set BATCH_SIZE=2 --set \"LEARNING_RATES=[(2, 1e-3)]\"")
    return parser


# ------------------------------------------------------------------------------------------------- schedule
def learning_rate_at(config: dict, epoch: int) -> float:
    """Learning rate of 0-based ``epoch`` from ``LR_SCHEDULE`` (piecewise constant; 0.0 during the warm-up).

    ``config`` may be raw or validated. Raises ``ValueError`` outside ``0 <= epoch < NUM_EPOCHS``.
    """
    schedule = setting(config, "LR_SCHEDULE")
    start = 0
    for n_epochs, lr in schedule:
        if start <= epoch < start + n_epochs:
            return float(lr)
        start += n_epochs
    raise ValueError(f"epoch {epoch} out of range: the schedule has {start} epochs, numbered from 0")


# -------------------------------------------------------------------------------------------------- helpers
def _with_hint(key: str) -> str:
    match = difflib.get_close_matches(key, SCHEMA, 1)
    return f"{key} (did you mean {match[0]}?)" if match else key


def _normalized(value):
    if isinstance(value, _SEQUENCE):
        return [_normalized(v) for v in value]
    return value


def _as_tuple(types):
    return types if isinstance(types, tuple) else (types,)


def _type_name(types) -> str:
    return " or ".join(t.__name__ for t in _as_tuple(types))
