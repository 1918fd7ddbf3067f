"""Networks of automix and the registry that builds them from an experiment config (release key names).

``build_model(config)`` maps ``NET_TYPE`` to a class: ``CAFX_TDCN_MIX`` (FxNorm-Automix mixing network),
``CAFX_TDCN`` (the same network; ``PRETRAIN`` selects the front-end pre-training mode) and ``WAVEUNET``. Models never
read files: load a checkpoint with ``torch.load(path, weights_only=True)`` and pass the state_dict to
:func:`load_weights` (or ``model.load_state_dict``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from torch import nn

from automix.models import blocks
from automix.models.fxnorm_automix import FxNormAutomix
from automix.models.wave_u_net import WaveUNet

logger = logging.getLogger(__name__)

FRONT_END_MODULES = ("conv_1", "conv_2")  # what the release transfers from pre-training (PRETRAIN_FRONT_END)


def _n_targets(config: dict) -> int:
    if config.get("TARGETS"):
        return len(config["TARGETS"][0])
    return 1 if config.get("PRETRAIN") else len(config.get("OUTPUTS", ["mixture"]))


def _common_args(config: dict) -> dict:
    return {"n_stems": len(config.get("INPUTS", ["vocals", "bass", "drums", "other"])),
            "n_channels": int(config.get("N_CHANNELS", 2)), "n_targets": _n_targets(config)}


def _build_fxnorm(config: dict, generator: torch.Generator | None) -> FxNormAutomix:
    pretrain = bool(config.get("PRETRAIN", config["NET_TYPE"] == "CAFX_TDCN"))
    return FxNormAutomix(
        **_common_args(config), n_features_encoder=config.get("N_FEATURES_ENCODER", 128),
        kernel_size_encoder=config.get("KERNEL_SIZE_ENCODER", 64), max_pooling=config.get("MAX_POOLING", 64),
        n_features_separation=config.get("N_FEATURES_SEPARATION_MODULE", 256),
        n_features_out=config.get("N_FEATURES_OUT", 64), n_features_tb=config.get("N_FEATURES_TB", 128),
        kernel_size_tb=config.get("KERNEL_SIZE_TB", 3), n_tb_per_repeat=config.get("N_TB_PER_REPEAT", 6),
        n_repeats=config.get("N_REPEATS", 4), se_amp_ratio=config.get("SE_AMP_RATIO", 16), pretrain=pretrain,
        generator=generator)


def _build_wave_u_net(config: dict, generator: torch.Generator | None) -> WaveUNet:
    for key, supported in (("CONV_TYPE", "gn"), ("RES", "fixed"), ("DEPTH", 1)):
        if config.get(key, supported) != supported:
            raise NotImplementedError(f"WAVEUNET {key}={config[key]!r}: only {supported!r} (the release's) is "
                                      "implemented")
    model = WaveUNet(**_common_args(config), n_features=config.get("N_FEATURES_ENCODER", 24),
                     levels=config.get("LEVELS", 5), feature_growth=config.get("FEATURE_GROWTH", "double"),
                     kernel_size=config.get("KERNEL_SIZE_ENCODER", 5), stride=config.get("STRIDES", 1))
    seq, out_seq = config.get("TRAINING_SEQ_LENGTH"), config.get("OUTPUT_SEQ_LENGTH")
    if seq is not None and out_seq is not None and seq - out_seq != model.shrink:
        raise ValueError(f"OUTPUT_SEQ_LENGTH {out_seq} != TRAINING_SEQ_LENGTH {seq} - {model.shrink}")
    return model


MODEL_REGISTRY = {"CAFX_TDCN_MIX": _build_fxnorm, "CAFX_TDCN": _build_fxnorm, "WAVEUNET": _build_wave_u_net}


def build_model(config: dict, seed: int | None = None) -> nn.Module:
    """Build the network an experiment config describes.

    Args:
        config: experiment config dict with the release's keys (``NET_TYPE``, ``N_FEATURES_ENCODER``, ...,
            ``INPUTS``, ``N_CHANNELS``, ``TARGETS``/``OUTPUTS``), e.g. a parity ``<name>.config.json``.
        seed: when given, all initial weights (PyTorch default init and the chrono LSTM biases) come from it, without
            touching torch's global random state.

    Returns:
        An ``nn.Module`` taking ``(batch, n_stems * n_channels, time)`` and returning
        ``(n_targets, batch, n_channels, time')``.
    """
    net_type = config.get("NET_TYPE")
    if net_type not in MODEL_REGISTRY:
        raise ValueError(f"unknown NET_TYPE {net_type!r}; known: {sorted(MODEL_REGISTRY)}")
    if seed is None:
        return MODEL_REGISTRY[net_type](config, None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed + 1)
        return MODEL_REGISTRY[net_type](config, generator)


def guard_samples_for_config(config: dict) -> int:
    """Guard band (samples each side) of an experiment, as the release computes it (spec §3.2, §3.3).

    32446 for the FxNorm-Automix configs; 32540 for the Wave-U-Net config, whose release config reuses the FxNorm
    helper with kernel 128 (32574) minus half the 68-sample valid-convolution shrink.
    """
    if config.get("NET_TYPE") == "WAVEUNET":
        kernel = config.get("KERNEL_SIZE_ENCODER", 5)
        shrink = (kernel - 1) * (4 * (config.get("LEVELS", 5) - 1) + 1)
        return blocks.guard_samples(128, 3, 6, 4, 64) - shrink // 2
    return blocks.guard_samples(config.get("KERNEL_SIZE_ENCODER", 64), config.get("KERNEL_SIZE_TB", 3),
                                config.get("N_TB_PER_REPEAT", 6), config.get("N_REPEATS", 4),
                                config.get("MAX_POOLING", 64))


@dataclass
class LoadReport:
    """What :func:`load_weights` copied: state_dict keys loaded, and keys of the model left at their init."""

    loaded: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def load_weights(model: nn.Module, state_dict: dict, front_end_only: bool = False) -> LoadReport:
    """Load a checkpoint's weights into ``model``.

    Args:
        model: the network (e.g. from :func:`build_model`).
        state_dict: weights (``torch.load(path, weights_only=True)`` of a ``.params`` file).
        front_end_only: copy only ``conv_1``/``conv_2`` (fine-tuning from a pre-training checkpoint, the release's
            ``PRETRAIN_FRONT_END``); everything else keeps its initialization. Otherwise a strict full load.

    Returns:
        A :class:`LoadReport`. Raises ``KeyError``/``RuntimeError`` with the offending names on mismatch.
    """
    if not front_end_only:
        model.load_state_dict(state_dict, strict=True)
        return LoadReport(loaded=list(state_dict), kept=[])
    selected = {k: v for k, v in state_dict.items() if k.split(".", 1)[0] in FRONT_END_MODULES}
    own = model.state_dict()
    missing = [k for k in own if k.split(".", 1)[0] in FRONT_END_MODULES and k not in selected]
    if missing or not selected:
        raise KeyError(f"front-end weights {missing or list(FRONT_END_MODULES)} not found in the checkpoint; "
                       "is it a FxNorm-Automix (pre-training) checkpoint?")
    model.load_state_dict(selected, strict=False)  # shape mismatches still raise
    report = LoadReport(loaded=sorted(selected), kept=[k for k in own if k not in selected])
    logger.info("loaded front-end weights %s; %d other entries keep their initialization", report.loaded,
                len(report.kept))
    return report


__all__ = ["FxNormAutomix", "WaveUNet", "MODEL_REGISTRY", "build_model", "guard_samples_for_config",
           "load_weights", "LoadReport", "FRONT_END_MODULES"]
