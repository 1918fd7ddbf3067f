"""Experiment configs: plain Python files under ``configs/`` that define one dict named ``config``.

Keys keep the original release's names, so official configs and checkpoints map one to one (see
``configs/ISMIR/*.py``). :func:`load_config` imports the file in its own module namespace (never ``exec`` into the
caller's globals), fills defaults and derived values, and validates: an unknown key, a wrong type or a derived value
that disagrees with its source is an error naming the file and the key.

Derived values (computed, not duplicated): ``SOURCES = INPUTS + OUTPUTS``, ``N_BINS = FFT_SIZE // 2 + 1``, ``GUARD_LEFT = GUARD_RIGHT`` = the network's guard band (32,446 samples for
FxNorm-Automix, 32,540 for the Wave-U-Net config) and, for Wave-U-Net, ``OUTPUT_SEQ_LENGTH = TRAINING_SEQ_LENGTH - 68``.
"""
from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

_NUMBER = (int, float)
_SEQUENCE = (list, tuple)

# key -> (accepted types, default; REQUIRED if the config must give it)
REQUIRED = object()
SCHEMA = {
    "NET_TYPE": (str, REQUIRED),
    "INPUTS": (_SEQUENCE, REQUIRED),
    "OUTPUTS": (_SEQUENCE, REQUIRED),
    "TRAINING_SEQ_LENGTH": (int, REQUIRED),
    "N_CHANNELS": (int, 2),
    "LOSS": (str, "Lb"),  # automix key: training loss, "La", "Lb" (stereo losses) or "td_l1" (pre-training)
    "PRETRAIN": (bool, False),
    "PRETRAIN_FRONT_END": (bool, False),
    # FxNorm-Automix
    "N_FEATURES_ENCODER": (int, 128), "KERNEL_SIZE_ENCODER": (int, 64), "MAX_POOLING": (int, 64),
    "N_FEATURES_SEPARATION_MODULE": (int, 256), "N_FEATURES_OUT": (int, 64), "N_FEATURES_TB": (int, 128),
    "KERNEL_SIZE_TB": (int, 3), "N_TB_PER_REPEAT": (int, 6), "N_REPEATS": (int, 4), "SE_AMP_RATIO": (int, 16),
    # Wave-U-Net
    "LEVELS": (int, 5), "STRIDES": (int, 1), "FEATURE_GROWTH": (str, "double"), "CONV_TYPE": (str, "gn"),
    "RES": (str, "fixed"), "DEPTH": (int, 1), "OUTPUT_SEQ_LENGTH": (int, None),
    # losses and training
    "FFT_SIZE": (int, 4096), "HOP_LENGTH": (int, 1024), "BATCH_SIZE": (int, 4), "INITIAL_LEARNING_RATE": (_NUMBER, 1e-3),
    "NUM_EPOCHS": (int, 1), "NUM_MINIBATCHES_PER_EPOCH": (int, 1600), "L2_REGULARIZATION": (_NUMBER, 1e-7),
    "GRAD_CLIP_NORM_TYPE": (_NUMBER, 2), "GRAD_CLIP_MAX_NORM": (_NUMBER, 0.2), "AMSGRAD": (bool, True),
    "USE_AMP": (bool, True), "SHUFFLE_STEMS": (bool, False), "SHUFFLE_CHANNELS": (bool, True),
    "AUGMENTER_SOURCES": (_SEQUENCE, ()), "SAVE_NET_AT_EPOCHS": (_SEQUENCE, ()),
    "BATCHED_VALID": (bool, True), "BATCHED_TEST": (bool, False), "MAX_VALIDATION_SEQ_LENGTH_TD": (int, 10584000),
    "MAX_PROCESSED_FREQUENCY": (_NUMBER, 16000.0), "N_BINS_KEEP": (int, 1486),
    # accepted for compatibility with the release's configs; no effect here
    "DEBUG": (bool, False), "CALCULATE_STATISTICS": (bool, True), "TENSORBOARD": (bool, True),
    "CUDNN_BENCHMARK": (bool, True), "NUM_DATAPROVIDING_PROCESSES": (int, 1),
    "NUM_MINIBATCHES_FOR_STATISTICS_ESTIMATION": (int, 1000),
    # derived (checked if given)
    "TARGETS": (_SEQUENCE, [("mixture",)]),  # target groups; names the checkpoints (the release's pre-training too)
    "SOURCES": (_SEQUENCE, None), "N_BINS": (int, None),
    "GUARD_LEFT": (int, None), "GUARD_RIGHT": (int, None),
}
NET_TYPES = ("CAFX_TDCN_MIX", "CAFX_TDCN", "WAVEUNET")
_FXNORM_KEYS = {"N_FEATURES_SEPARATION_MODULE", "N_FEATURES_OUT", "N_FEATURES_TB", "KERNEL_SIZE_TB", "N_TB_PER_REPEAT",
                "N_REPEATS", "SE_AMP_RATIO", "MAX_POOLING"}
_WAVE_U_NET_KEYS = {"LEVELS", "STRIDES", "FEATURE_GROWTH", "CONV_TYPE", "RES", "DEPTH", "OUTPUT_SEQ_LENGTH"}
_NETWORK_DEFAULTS = {"WAVEUNET": {"N_FEATURES_ENCODER": 24, "KERNEL_SIZE_ENCODER": 5}}


class ConfigError(ValueError):
    """A config file is invalid; the message names the file and the key."""


def load_config(path) -> dict:
    """Import ``path`` (a Python file defining ``config = {...}``) and return the validated, completed dict."""
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
    return validate_config(module.config, source=str(path))


def validate_config(config: dict, source: str = "config") -> dict:
    """Check keys and types, fill defaults and derived values; returns a new dict (the input is not modified)."""
    unknown = [key for key in config if key not in SCHEMA]
    if unknown:
        hints = [f"{k} (did you mean {m[0]}?)" if (m := difflib.get_close_matches(k, SCHEMA, 1)) else k
                 for k in unknown]
        raise ConfigError(f"{source}: unknown key(s): {', '.join(hints)}")
    net_type = config.get("NET_TYPE")
    if net_type not in NET_TYPES:
        raise ConfigError(f"{source}: NET_TYPE must be one of {NET_TYPES}, got {net_type!r}")
    other_network_keys = _FXNORM_KEYS if net_type == "WAVEUNET" else _WAVE_U_NET_KEYS
    misplaced = sorted(other_network_keys & set(config))
    if misplaced:
        raise ConfigError(f"{source}: key(s) {', '.join(misplaced)} are not used by NET_TYPE {net_type}")
    result = {}
    for key, (types, default) in SCHEMA.items():
        if key in other_network_keys:
            continue
        default = _NETWORK_DEFAULTS.get(net_type, {}).get(key, default)
        if key in config:
            value = config[key]
            if isinstance(value, bool) and types is not bool and bool not in _as_tuple(types):
                raise ConfigError(f"{source}: {key} must be {_type_name(types)}, got {value!r}")
            if not isinstance(value, types):
                raise ConfigError(f"{source}: {key} must be {_type_name(types)}, got {value!r}")
            result[key] = value
        elif default is REQUIRED:
            raise ConfigError(f"{source}: required key {key} is missing")
        elif default is not None:
            result[key] = default
    _fill_derived(result, source)
    return result


def _fill_derived(config: dict, source: str) -> None:
    from automix.models import guard_samples_for_config  # torch is only needed once a network is involved

    derived = {
        "SOURCES": list(config["INPUTS"]) + list(config["OUTPUTS"]),
        "N_BINS": config["FFT_SIZE"] // 2 + 1,
    }
    if config["NET_TYPE"] == "WAVEUNET":
        # every ConvLayer (2 per level and side, 1 bottleneck) of kernel K removes K - 1 samples: 68 for 5 levels, K=5
        shrink = (config["KERNEL_SIZE_ENCODER"] - 1) * (4 * (config["LEVELS"] - 1) + 1)
        derived["OUTPUT_SEQ_LENGTH"] = config["TRAINING_SEQ_LENGTH"] - shrink
    guard = guard_samples_for_config({**config, **derived})
    derived["GUARD_LEFT"] = derived["GUARD_RIGHT"] = guard
    for key, value in derived.items():
        if key in config and _normalized(config[key]) != _normalized(value):
            raise ConfigError(f"{source}: {key} = {config[key]!r} disagrees with the value derived from the other "
                              f"keys ({value!r}); remove it or fix it")
        config[key] = value


def _normalized(value):
    if isinstance(value, _SEQUENCE):
        return [_normalized(v) for v in value]
    return value


def _as_tuple(types):
    return types if isinstance(types, tuple) else (types,)


def _type_name(types) -> str:
    return " or ".join(t.__name__ for t in _as_tuple(types))
