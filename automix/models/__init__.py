"""Networks of automix and the registry that builds them from an experiment config (release key names).

``build_model(config)`` maps ``NET_TYPE`` to a class: ``CAFX_TDCN_MIX`` (FxNorm-Automix mixing network),
``CAFX_TDCN`` (the same network; ``PRETRAIN`` selects the front-end pre-training mode, default true for
``CAFX_TDCN`` only) and ``WAVEUNET``. Missing keys take the defaults of :func:`automix.config.setting`, the ones
:func:`automix.config.validate_config` fills in, so a raw dict and its validated version build the same network.
Models never read files: load a checkpoint with ``torch.load(path, weights_only=True)`` and pass the state_dict
to :func:`load_weights` (or ``model.load_state_dict``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from torch import nn

from automix.config import setting
from automix.models.fxnorm_automix import FxNormAutomix
from automix.models.wave_u_net import WaveUNet
from automix.receptive_field import guard_samples_for_config

logger = logging.getLogger(__name__)

FRONT_END_MODULES = ("conv_1", "conv_2")  # what the release transfers from pre-training (PRETRAIN_FRONT_END)


def _common_args(config: dict) -> dict:
    return {"n_stems": len(setting(config, "INPUTS")), "n_channels": setting(config, "N_CHANNELS"),
            "n_targets": len(setting(config, "TARGETS")[0])}


def _build_fxnorm(config: dict, generator: torch.Generator | None) -> FxNormAutomix:
    return FxNormAutomix(
        **_common_args(config), n_features_encoder=setting(config, "N_FEATURES_ENCODER"),
        kernel_size_encoder=setting(config, "KERNEL_SIZE_ENCODER"), max_pooling=setting(config, "MAX_POOLING"),
        n_features_separation=setting(config, "N_FEATURES_SEPARATION_MODULE"),
        n_features_out=setting(config, "N_FEATURES_OUT"), n_features_tb=setting(config, "N_FEATURES_TB"),
        kernel_size_tb=setting(config, "KERNEL_SIZE_TB"), n_tb_per_repeat=setting(config, "N_TB_PER_REPEAT"),
        n_repeats=setting(config, "N_REPEATS"), se_amp_ratio=setting(config, "SE_AMP_RATIO"),
        pretrain=setting(config, "PRETRAIN"), generator=generator)


def _build_wave_u_net(config: dict, generator: torch.Generator | None) -> WaveUNet:
    for key, supported in (("CONV_TYPE", "gn"), ("RES", "fixed"), ("DEPTH", 1), ("STRIDES", 1)):
        if config.get(key, supported) != supported:
            raise NotImplementedError(f"WAVEUNET {key}={config[key]!r}: only {supported!r} (the release's) is "
                                      "implemented")
    # The network takes any input longer than its shrink; the release sizes it from OUTPUT_SEQ_LENGTH
    # (automix.receptive_field.network_input_length), and the config validation warns about a mismatch.
    return WaveUNet(**_common_args(config), n_features=setting(config, "N_FEATURES_ENCODER"),
                    levels=setting(config, "LEVELS"), feature_growth=setting(config, "FEATURE_GROWTH"),
                    kernel_size=setting(config, "KERNEL_SIZE_ENCODER"), stride=setting(config, "STRIDES"))


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
