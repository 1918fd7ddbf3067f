"""Augmentation chain and its config-level builder (numpy/scipy/pedalboard, never torch; spec §2.4).

``AugmentationChain([(effect, probability, rms_normalize), ...], shuffle=False, parallel=False)`` applies each
entry with its probability (parameters re-drawn every time), optionally rescales an entry's output to its input's
RMS, truncates to the input length, optionally in a random order (``shuffle``) and returns ``x + y`` when
``parallel``. An entry may itself be a chain. Like every effect (:mod:`automix.data.effects`) it draws apart from
applying: ``chain.draw(rng) -> params``, ``chain.apply(x, params, sample_rate) -> y``, ``chain(x, rng, sr)``.

Configs describe a chain as data, built by :func:`build_augmentation`::

    [{"effect": "gain", "probability": 0.5, "gain_db": (-6, 6)},
     {"effect": "reverb", "probability": 0.3, "rms_normalize": True}]
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from automix.conventions import SAMPLE_RATE
from automix.data.effects import (Compressor, ConvolutionalReverb, Distortion, Effect, Equaliser, Gain, Haas,
                                  Monauralize, Panner, PitchShift, SwapChannels, TimeStretch)
from automix.fxnorm.reverb import find_impulse_responses

__all__ = ["AugmentationChain", "EFFECTS", "Compressor", "ConvolutionalReverb", "Distortion", "Effect", "Equaliser",
           "Gain", "Haas", "Monauralize", "Panner", "PitchShift", "SwapChannels", "TimeStretch",
           "build_augmentation"]

EFFECTS = {cls.name: cls for cls in (ConvolutionalReverb, Equaliser, Compressor, Panner, Gain, Distortion, Haas,
                                     SwapChannels, Monauralize, PitchShift, TimeStretch)}
"""Effect names usable in a config spec -> class."""

_RMS_FLOOR = 1e-7  # the release's floor on the output's mean square


@dataclass
class AugmentationChain(Effect):
    """Effects with probabilities, applied in series (or added to the input when ``parallel``).

    Args:
        fxs: ``(effect, probability, rms_normalize)`` triples; ``effect`` has ``draw``/``apply`` (or is a chain).
        shuffle: apply the entries in a random order, drawn every call.
        parallel: return ``x + chain(x)`` instead of ``chain(x)``.
    """

    fxs: list
    shuffle: bool = False
    parallel: bool = False

    name = "chain"

    def __post_init__(self):
        self.fxs = [tuple(entry) for entry in self.fxs]
        for entry in self.fxs:
            if len(entry) != 3 or not hasattr(entry[0], "draw") or not hasattr(entry[0], "apply"):
                raise ValueError(f"chain entries are (effect, probability, rms_normalize), got {entry!r}")
            if not 0.0 <= float(entry[1]) <= 1.0:
                raise ValueError(f"{type(entry[0]).__name__}: probability must be in [0, 1], got {entry[1]!r}")

    def draw(self, rng: np.random.Generator) -> dict:
        """``{"order": [...], "steps": [params or None]}``: ``steps[k]`` belongs to entry ``order[k]``."""
        order = [int(i) for i in rng.permutation(len(self.fxs))] if self.shuffle else list(range(len(self.fxs)))
        steps = [self.fxs[i][0].draw(rng) if rng.random() < self.fxs[i][1] else None for i in order]
        return {"order": order, "steps": steps}

    def apply(self, x: np.ndarray, params: dict, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        y = x
        for index, step in zip(params["order"], params["steps"]):
            if step is None:
                continue
            effect, _, rms_normalize = self.fxs[index]
            out = np.asarray(effect.apply(y, step, sample_rate), dtype=np.float32)
            # truncated to the input length (the release); a shorter output is zero-padded at the end
            out = out[: y.shape[0]] if out.shape[0] >= y.shape[0] else \
                np.pad(out, ((0, y.shape[0] - out.shape[0]), (0, 0)))
            if rms_normalize:
                scale = np.sqrt(np.mean(np.square(y, dtype=np.float64))
                                / max(_RMS_FLOOR, float(np.mean(np.square(out, dtype=np.float64)))))
                out = out * np.float32(scale)
            y = out
        return (x + y).astype(np.float32) if self.parallel else y.astype(np.float32, copy=y is x)


def build_augmentation(spec, ir_dir=None) -> AugmentationChain | None:
    """Build a chain from a config description.

    Args:
        spec: None or ``[]`` (no augmentation), a list of entries, or ``{"effects": [...], "shuffle": bool,
            "parallel": bool}``. An entry is a dict: ``"effect"`` (a name of :data:`EFFECTS`, or ``"chain"`` with
            its own ``"effects"``/``"shuffle"``/``"parallel"``), ``"probability"`` (default 1), ``"rms_normalize"``
            (default False), and any of the effect's constructor arguments (parameter ranges as ``(low, high)``).
        ir_dir: folder of ``<name>/impulse_response.wav`` files, needed by ``"reverb"``; every IR is checked here
            (44.1 kHz, readable, non-empty), a bad one is an error naming the file.

    Raises:
        ValueError: an unknown effect or argument (named, with the accepted ones), a reverb without ``ir_dir``.
    """
    if not spec:
        return None
    cache = {}
    return _build_chain(spec if isinstance(spec, dict) else {"effects": spec}, ir_dir, cache, "augmentation")


def _build_chain(spec: dict, ir_dir, cache: dict, where: str) -> AugmentationChain:
    _check_keys(spec, {"effect", "effects", "shuffle", "parallel", "probability", "rms_normalize"}, where)
    effects = spec.get("effects")
    if not isinstance(effects, (list, tuple)):
        raise ValueError(f"{where}: 'effects' must be a list of effect entries, got {effects!r}")
    fxs = []
    for position, entry in enumerate(effects):
        place = f"{where}[{position}]"
        if not isinstance(entry, dict) or "effect" not in entry:
            raise ValueError(f"{place}: an entry is a dict with an 'effect' name, got {entry!r}")
        effect = _build_chain(entry, ir_dir, cache, place) if entry["effect"] == "chain" \
            else _build_effect(entry, ir_dir, cache, place)
        fxs.append((effect, float(entry.get("probability", 1.0)), bool(entry.get("rms_normalize", False))))
    return AugmentationChain(fxs, shuffle=bool(spec.get("shuffle", False)), parallel=bool(spec.get("parallel", False)))


def _build_effect(entry: dict, ir_dir, cache: dict, where: str) -> Effect:
    name = entry["effect"]
    if name not in EFFECTS:
        hint = difflib.get_close_matches(str(name), EFFECTS, n=1)
        raise ValueError(f"{where}: unknown effect {name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                         + f"; choose from {sorted(EFFECTS)} or 'chain'")
    cls = EFFECTS[name]
    arguments = {f.name for f in fields(cls) if f.init and f.name != "irs"}
    _check_keys(entry, arguments | {"effect", "probability", "rms_normalize"}, f"{where} ({name})")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.items() if k in arguments}
    if cls is ConvolutionalReverb:
        if ir_dir is None:
            raise ValueError(f"{where}: the reverb needs impulse responses; pass ir_dir (a folder of "
                             "<name>/impulse_response.wav files)")
        key = str(Path(ir_dir).resolve())
        if key not in cache:
            cache[key] = find_impulse_responses(ir_dir)
        kwargs["irs"] = cache[key]
    return cls(**kwargs)


def _check_keys(entry: dict, allowed: set, where: str) -> None:
    for key in entry:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            raise ValueError(f"{where}: unknown key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                             + f"; accepted: {sorted(allowed)}")

