"""Effect normalization of one stem: the chain reverb -> eq -> compression -> panning -> loudness (spec §1.3).

Every stem is zero-padded by 65536 samples at both ends before processing and cropped after. All-zero stems come
out as zeros; stems whose peak is at or below -50 dBFS come out unchanged. ``release`` mode also crops, quantizes
to 16 bit (``trunc(clip(x·32768))/32768``) and re-pads after every effect, the last one included, as the release
did by writing a PCM_16 file after each effect and reading it back for the next; and it computes in the release's
arithmetic under NumPy 2 (see :mod:`~automix.fxnorm.eq`, :mod:`~automix.fxnorm.panning`,
:mod:`~automix.fxnorm.dynamics`, :mod:`~automix.fxnorm.loudness`).

The compression search (``search``): ``"grid"`` walks the release's grid in its order (ratios outer, thresholds
inner) and is the default in release mode; ``"fast"`` (bisection, at most 12 passes) is the default in fixed mode.
"""

from __future__ import annotations

import hashlib
import logging
import time

import numpy as np

from automix.conventions import COMPRESSION_SEARCHES as SEARCHES
from automix.conventions import MODES
from automix.fxnorm.eq import eq_analysis, match_eq
from automix.fxnorm.features import FEATURE_EFFECTS, FEATURE_STEMS
from automix.fxnorm.loudness import SAMPLE_RATE, is_silent, loudness_feature, match_loudness, max_abs
from automix.fxnorm.panning import match_panning, panning_feature
from automix.fxnorm.reverb import REVERB_STEMS, apply_pre_reverb, apply_reverb_send

logger = logging.getLogger(__name__)

EFFECTS = ("reverb", "eq", "compression", "panning", "loudness")  # processing order (order matters)
PAD_SAMPLES = 65536


def default_search(mode: str, search: str | None = None) -> str:
    """The compression search to use: ``search`` if given, else ``"grid"`` in release mode and ``"fast"`` in fixed."""
    if search is None:
        return "grid" if mode == "release" else "fast"
    if search not in SEARCHES:
        raise ValueError(f"compression search must be one of {SEARCHES}, got {search!r}")
    return search


def stem_rng(seed: int, song: str, stem: str) -> np.random.Generator:
    """The generator of one stem of one song: depends only on (seed, song name, stem), not on the worker."""
    digest = hashlib.sha256(f"{song}\0{stem}".encode()).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words]))


def as_stereo(x: np.ndarray) -> np.ndarray:
    """float32 ``(n_samples, 2)`` from mono ``(n,)``/``(n, 1)`` or stereo input (copy only when needed).

    Raises:
        ValueError: not float samples, not 1 or 2 channels (channels last), no sample, or NaN/inf samples: the same
            checks the command line makes on files.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):  # int16 samples cast to float would be 32768x too loud
        raise ValueError(f"audio must be float samples in [-1, 1] (as automix.audio.read returns), got dtype "
                         f"{x.dtype}")
    x = x.astype(np.float32, copy=False)
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[1] not in (1, 2):
        raise ValueError(f"audio must be (n_samples,) or (n_samples, 1 or 2) (channels last, mono or stereo), got "
                         f"shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError("audio has no samples")
    if not np.isfinite(max_abs(x)):  # NaN or inf anywhere (no whole-signal boolean temporary)
        raise ValueError("audio contains NaN or infinite samples")
    return np.repeat(x, 2, axis=1) if x.shape[1] == 1 else x


def check_call(stem: str, mode: str, sample_rate: int, effects=(), features: dict | None = None) -> None:
    """The argument checks of :func:`normalize_stem` and :func:`stem_feature`: stem type, mode, effects, rate and
    the features the effects need; ValueError naming the problem."""
    if stem not in FEATURE_STEMS:
        raise ValueError(f"unknown stem type {stem!r}; expected one of {FEATURE_STEMS}")
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"effect normalization is defined at {SAMPLE_RATE} Hz only (features, FIR and compressor "
                         f"times); resample the stem (got sample_rate={sample_rate})")
    _check(effects, mode)
    for effect in (e for e in effects if e != "reverb"):
        try:
            target = (features or {})[effect][stem]
        except (KeyError, TypeError):
            raise ValueError(f"features have no {effect}/{stem} entry; the {effect} effect needs it (load a "
                             "features file with automix.fxnorm.load_features)") from None
        if target is None or not np.all(np.isfinite(np.asarray(target, dtype=np.float64))):
            raise ValueError(f"features {effect}/{stem} must be finite numbers")


def pad(x: np.ndarray) -> np.ndarray:
    return np.pad(x, ((PAD_SAMPLES, PAD_SAMPLES), (0, 0)))


def crop(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x[PAD_SAMPLES:-PAD_SAMPLES])


def quantize_pcm16(x: np.ndarray) -> np.ndarray:
    """The release's 16-bit round trip between effects: ``trunc(clip(x * 32768)) / 32768``."""
    return (np.clip(x * 32768.0, -32768, 32767).astype(np.int16) / np.float32(32768.0)).astype(np.float32)


def apply_effect(effect: str, x: np.ndarray, stem: str, features: dict | None, mode: str,
                 rng: np.random.Generator | None = None, irs=None, analysis=None,
                 search: str | None = None) -> tuple[np.ndarray, dict]:
    """Apply one effect to a padded stereo stem; returns ``(y, report)``.

    ``analysis``: the measurement of ``x`` that :func:`feature_and_analysis` returned for this effect, if any (the
    matching then skips measuring it again). ``search``: the compression search (:func:`default_search`).
    In release mode the output may be float64 (the release's promotion); the chain quantizes it to 16 bit.
    """
    if effect == "reverb":
        if stem not in REVERB_STEMS:
            return x, {"action": "not applied to this stem"}
        if not irs:
            raise ValueError("the reverb effect needs impulse responses")
        return apply_reverb_send(x, irs, rng)  # raises without a generator: no fixed-seed fallback
    target = features[effect][stem]
    if effect == "eq":
        return match_eq(x, target, stem, mode, analysis=analysis)
    if effect == "compression":
        from automix.fxnorm.dynamics import match_compression

        return match_compression(x, target, stem, mode=mode, sample_rate=SAMPLE_RATE,
                                 search=default_search(mode, search), statistic=analysis)
    if effect == "panning":
        return match_panning(x, target, stem, mode)
    if effect == "loudness":
        return match_loudness(x, float(np.asarray(target).reshape(-1)[0]),
                              precision="float64" if mode == "release" else "float32")
    raise ValueError(f"unknown effect {effect!r}; expected one of {EFFECTS}")


def _apply_owned(effect: str, source: list, stem: str, features, mode: str, rng, irs, analysis, search):
    """:func:`apply_effect` on the stem in ``source`` (emptied). Compression frees its input early (see
    :func:`~automix.fxnorm.dynamics.match_compression_owned`); the other effects need theirs to the end."""
    if effect != "compression":
        return apply_effect(effect, source.pop(), stem, features, mode, rng, irs, analysis, search)
    from automix.fxnorm.dynamics import match_compression_owned

    return match_compression_owned(source, features[effect][stem], stem, mode=mode, sample_rate=SAMPLE_RATE,
                                   search=default_search(mode, search), statistic=analysis)


def _check(effects, mode) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    unknown = [e for e in effects if e not in EFFECTS]
    if unknown:
        raise ValueError(f"unknown effects {unknown}; expected a subset of {EFFECTS}")


def run_chain(x: np.ndarray, stem: str, features: dict | None, effects, mode: str = "fixed",
              rng: np.random.Generator | None = None, irs=None, analysis=None,
              search: str | None = None) -> tuple[np.ndarray, dict]:
    """Apply ``effects`` (kept in the canonical order) to a *padded* stereo stem.

    An effect is skipped ("gated") when its input is silent. ``analysis`` (see :func:`feature_and_analysis`) is a
    measurement of ``x`` itself, so it is only handed to the first effect. In release mode the output of every
    effect is cropped, quantized to 16 bit and re-padded (the release's PCM_16 file per effect), so the result is
    exactly what the release's last file holds. Returns ``(y_padded, {effect: report})``.
    """
    reports = {}
    for index, effect in enumerate(e for e in EFFECTS if e in effects):
        if is_silent(x):
            reports[effect] = {"action": "gated"}
            continue
        start = time.perf_counter()
        source = [x]  # handed over: an input no caller keeps is freed as soon as the effect is done with it
        del x
        x, reports[effect] = _apply_owned(effect, source, stem, features, mode, rng, irs,
                                          analysis if index == 0 else None, search)
        if mode == "release":  # the release wrote (and the next effect re-read) a 16-bit file after each effect
            x = pad(quantize_pcm16(crop(x)))
        reports[effect]["seconds"] = time.perf_counter() - start
    return x, reports


def normalize_stem(x: np.ndarray, stem: str, features: dict | None, effects=EFFECTS, mode: str = "fixed",
                   rng: np.random.Generator | None = None, irs=None, pre_irs=None,
                   sample_rate: int = SAMPLE_RATE, search: str | None = None) -> tuple[np.ndarray, dict]:
    """Normalize one stem: optional pre-reverb, then the effect chain (spec §1.3-§1.8).

    Args:
        x: stem audio ``(n_samples, 1 or 2)`` or ``(n_samples,)``; not modified. Mono becomes stereo.
        stem: ``"vocals"``, ``"bass"``, ``"drums"`` or ``"other"``.
        features: dataset features ``{effect: {stem: array}}`` (see :mod:`automix.fxnorm.features`).
        effects: effects to apply (any subset of :data:`EFFECTS`, always run in that order). ``"reverb"`` is
            skipped when ``irs`` is empty/None.
        mode: ``"fixed"`` (default) or ``"release"``.
        rng: the stem's generator (IR and shelf draws); see :func:`stem_rng`. Required when vocals/other get
            the reverb send or pre-reverb: there is no fallback seed (it would give every stem the same draw).
        irs: reverb-send IRs (:class:`automix.fxnorm.reverb.ImpulseResponse`).
        pre_irs: short IRs for pre-reverb of dry vocals/other (inference on dry input); None = no pre-reverb.
        sample_rate: of ``x`` in Hz; only 44100 is accepted (the features and filters are defined there).
        search: compression search, ``"grid"`` or ``"fast"``; default from the mode (:func:`default_search`).

    Returns:
        ``(y, report)``: float32 ``(n_samples, 2)`` and ``{"status": ..., "<effect>": {...}}`` where status is
        ``"normalized"``, ``"silent"`` (unchanged) or ``"all_zero"`` (zeros).

    Raises:
        ValueError: unknown stem/mode/effect, a rate other than 44.1 kHz, audio that is not float mono/stereo
            ``(n_samples, channels)`` with finite samples, missing features, or a reverb draw without ``rng``.
    """
    check_call(stem, mode, sample_rate, effects, features)
    x = as_stereo(x)
    if not np.any(x):
        return np.zeros_like(x), {"status": "all_zero"}
    if is_silent(x):
        return x.copy(), {"status": "silent"}
    return _normalize_padded(pad(x), stem, features, effects, mode, rng, irs, pre_irs, default_search(mode, search))


def normalize_padded_stem(holder: list, stem: str, features: dict | None, effects=EFFECTS, mode: str = "fixed",
                          rng: np.random.Generator | None = None, irs=None, pre_irs=None,
                          sample_rate: int = SAMPLE_RATE, search: str | None = None) -> tuple[np.ndarray, dict]:
    """:func:`normalize_stem` of a stem that is already padded, handed over so that it can be freed early.

    Args:
        holder: a one-element list holding the padded stem, float32 ``(PAD_SAMPLES + n + PAD_SAMPLES, 2)`` with
            zeros in the padding. The list is emptied: the padded stem is then referenced only by the effect chain,
            which frees it as soon as the first effect has made its output (a stem-sized array less for the rest
            of the chain, e.g. ~210 MB for a 10-min song). Its samples may be overwritten.
        other arguments: as :func:`normalize_stem`.

    Returns:
        As :func:`normalize_stem` (``y`` may be a view of a padded array).
    """
    padded = holder.pop()
    check_call(stem, mode, sample_rate, effects, features)
    if padded.dtype != np.float32 or padded.ndim != 2 or padded.shape[1] != 2 or padded.shape[0] <= 2 * PAD_SAMPLES:
        raise ValueError(f"a padded stem must be float32 (n + {2 * PAD_SAMPLES}, 2) with n > 0, got {padded.dtype} "
                         f"{padded.shape}")
    x = as_stereo(padded[PAD_SAMPLES:-PAD_SAMPLES])  # the checks of normalize_stem (no copy)
    if not np.any(x):
        return np.zeros_like(x), {"status": "all_zero"}
    if is_silent(x):
        return x.copy(), {"status": "silent"}
    del x
    source = [padded]
    del padded
    return _normalize_padded(source.pop(), stem, features, effects, mode, rng, irs, pre_irs,
                             default_search(mode, search))


def _normalize_padded(padded, stem, features, effects, mode, rng, irs, pre_irs, search) -> tuple[np.ndarray, dict]:
    """Pre-reverb and the chain on a padded stem that no caller keeps (it is freed once replaced); cropped result."""
    effects = [e for e in effects if e != "reverb" or irs]
    report = {"status": "normalized"}
    if pre_irs and stem in REVERB_STEMS:
        padded, report["pre_reverb"] = apply_pre_reverb(padded, pre_irs, rng, mode)
    source = [padded]  # run_chain's input only: freed as soon as the first effect has made its output
    del padded
    padded, reports = run_chain(source.pop(), stem, features, effects, mode, rng, irs, search=search)
    report.update(reports)
    return crop(padded), report


def effect_feature(effect: str, x_padded: np.ndarray, mode: str = "fixed") -> np.ndarray | None:
    """Per-file feature of ``effect`` on a padded stereo stem, or None (excluded)."""
    return feature_and_analysis(effect, x_padded, mode)[0]


def feature_and_analysis(effect: str, x_padded: np.ndarray, mode: str = "fixed") -> tuple:
    """``(feature or None, analysis or None)``: the per-file feature, and in fixed mode what the matching of the same
    signal would measure again (EQ: -30 LUFS gain and spectrum; compression: the onset-peak statistic and its onsets).

    The features pass computes the feature of effect *k* and then matches effect *k* on the same stem in the next
    stage: handing the analysis over saves a 65536-point STFT plus a loudness measurement (EQ) and two onset passes
    (compression) per stem. In release mode matching measures each channel on its own, so there is nothing to reuse,
    and the features are computed in the release's arithmetic (float64 STFTs, pyloudnorm's meter).
    """
    release = mode == "release"
    if effect == "eq":
        if is_silent(x_padded):
            return None, None
        gain, spectrum, lufs = eq_analysis(x_padded, mode=mode)
        if not np.isfinite(lufs):
            return None, None
        return spectrum, (None if release else (gain, spectrum, lufs))
    if effect == "compression":
        from automix.fxnorm.dynamics import compression_analysis, compression_feature

        if release:
            return compression_feature(x_padded, mode=mode), None
        return compression_analysis(x_padded)  # the statistic and its onsets (the fast search starts from them)
    if effect == "panning":
        return panning_feature(x_padded, mode), None
    if effect == "loudness":
        return loudness_feature(x_padded, precision="float64" if release else "float32"), None
    raise ValueError(f"effect {effect!r} has no feature; expected one of {FEATURE_EFFECTS}")


def stem_feature(x: np.ndarray, stem: str, effect: str, features: dict | None, effects_before=(),
                 mode: str = "fixed", rng: np.random.Generator | None = None, irs=None,
                 keep_audio: bool = False, padded: bool = False, analysis=None,
                 sample_rate: int = SAMPLE_RATE, search: str | None = None) -> tuple:
    """Feature of ``effect`` computed on the stem after applying ``effects_before`` to it (in memory).

    Args:
        x: the stem, raw; or, with ``padded=True``, a padded stem returned by an earlier call with ``keep_audio``
            (already normalized by earlier effects: pass only the remaining ones).
        keep_audio: also return the processed padded stem so the next effect need not redo the chain.
        analysis: the analysis that the earlier call returned with ``x`` (for the first of ``effects_before``).
        rng: the stem's generator; required only when ``effects_before`` has the reverb send of vocals/other.
        sample_rate: of ``x`` in Hz; only 44100 is accepted.
        search: compression search of the effects before (:func:`default_search`).

    Returns:
        ``(feature or None, status)`` with status ``"ok"``, ``"all_zero"``, ``"silent"`` or ``"no_feature"``
        (e.g. no onsets for compression); with ``keep_audio``, ``(feature, status, padded audio or None,
        analysis or None)``, the analysis being for matching ``effect`` on that audio (see
        :func:`feature_and_analysis`).
    """
    check_call(stem, mode, sample_rate, effects_before, features)
    result = _stem_feature(x if padded else pad(as_stereo(x)), stem, effect, features, effects_before, mode, rng,
                           irs, analysis, default_search(mode, search))
    return result if keep_audio else result[:2]


def _stem_feature(x_padded, stem, effect, features, effects_before, mode, rng, irs, analysis, search) -> tuple:
    if not np.any(x_padded):
        return None, "all_zero", None, None
    if is_silent(x_padded):
        return None, "silent", None, None
    effects_before = [e for e in effects_before if e != "reverb" or irs]
    # (release mode: run_chain leaves every effect's output quantized to 16 bit, as the files the release re-read)
    x_padded, _ = run_chain(x_padded, stem, features, effects_before, mode, rng, irs, analysis, search)
    if is_silent(x_padded):
        return None, "silent", None, None
    value, analysis = feature_and_analysis(effect, x_padded, mode)
    return value, ("no_feature" if value is None else "ok"), x_padded, analysis
