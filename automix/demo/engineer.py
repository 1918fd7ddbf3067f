"""The demo dataset's "mix engineer": turns dry rendered stems into MUSDB18-like wet stems and a mixture.

Per stem: high-pass, low shelf, one peak band, high shelf and a compressor (pedalboard, i.e. JUCE filters and
dynamics, on purpose a different implementation from the project's own ``automix.fxnorm`` DSP), constant-power
panning, a reverb send through an impulse response (``scipy.signal.fftconvolve``), then a gain to the stem's target
loudness (pyloudnorm, ITU-R BS.1770). Vocals and other always get a reverb send, drums a short room on half of the
songs, bass none. The mixture is the sum of the wet stems through a gentle bus limiter (:func:`mix_bus`).

Parameters are drawn apart from applying them (``draw_*`` vs ``apply_*``) so they can be stored in the dataset's
info file; draws consume the generator in a fixed order.
"""

from __future__ import annotations

import numpy as np
import pedalboard
import pyloudnorm
from scipy.signal import fftconvolve

from automix.audio import SAMPLE_RATE

# Ranges per stem: (low, high) for uniform draws. Frequencies in Hz, gains in dB, times in ms.
_STEM_RANGES = {
    "vocals": dict(highpass_hz=(70, 120), low_shelf_hz=(150, 300), low_shelf_db=(-4, 1), peak_hz=(800, 3500),
                   peak_db=(-4, 4), high_shelf_hz=(6000, 10000), high_shelf_db=(0, 5), threshold_db=(-28, -16),
                   ratio=(2.5, 6), attack_ms=(2, 15), release_ms=(60, 250), pan=(-0.15, 0.15),
                   target_lufs=(-20, -14), send_db=(-14, -6), predelay_ms=(10, 60)),
    "bass": dict(highpass_hz=(25, 45), low_shelf_hz=(80, 150), low_shelf_db=(-2, 4), peak_hz=(400, 1200),
                 peak_db=(-4, 3), high_shelf_hz=(3000, 6000), high_shelf_db=(-6, 0), threshold_db=(-30, -18),
                 ratio=(3, 8), attack_ms=(5, 30), release_ms=(80, 300), pan=(-0.05, 0.05),
                 target_lufs=(-24, -17), send_db=None, predelay_ms=None),
    "drums": dict(highpass_hz=(30, 50), low_shelf_hz=(60, 120), low_shelf_db=(0, 4), peak_hz=(300, 800),
                  peak_db=(-5, 0), high_shelf_hz=(5000, 9000), high_shelf_db=(0, 4), threshold_db=(-24, -12),
                  ratio=(2, 5), attack_ms=(5, 30), release_ms=(50, 200), pan=(-0.1, 0.1),
                  target_lufs=(-24, -17), send_db=(-20, -10), predelay_ms=(0, 10)),
    "other": dict(highpass_hz=(60, 150), low_shelf_hz=(150, 400), low_shelf_db=(-4, 0), peak_hz=(500, 3000),
                  peak_db=(-4, 4), high_shelf_hz=(5000, 10000), high_shelf_db=(-2, 4), threshold_db=(-30, -18),
                  ratio=(1.5, 4), attack_ms=(5, 40), release_ms=(100, 300), pan=(0.25, 0.7),
                  target_lufs=(-23, -16), send_db=(-16, -8), predelay_ms=(10, 50)),
}
# Which IR kind feeds each stem's send; drums get a short room on about half of the songs.
_SEND_IR_KIND = {"vocals": "reverb", "other": "reverb", "drums": "pre_reverb", "bass": None}
_DRUM_ROOM_PROBABILITY = 0.5
_STEM_PEAK_CEILING = 0.95  # all stems are trimmed together when one would peak above this


def draw_stem_settings(stem: str, rng: np.random.Generator, ir_names: dict) -> dict:
    """Draw the engineer's settings for one stem.

    Args:
        stem: ``vocals``, ``bass``, ``drums`` or ``other``.
        rng: the song's engineer generator.
        ir_names: ``{"reverb": [names], "pre_reverb": [names]}`` available for sends.

    Returns:
        JSON-able dict of parameters; ``send`` is None or ``{"ir_kind", "ir_name", "send_db", "predelay_ms"}``.
    """
    ranges = _STEM_RANGES[stem]
    settings = {key: round(float(rng.uniform(*span)), 3)
                for key, span in ranges.items() if span is not None and key not in ("send_db", "predelay_ms")}
    settings["q"] = round(float(rng.uniform(0.7, 2.0)), 3)
    if stem == "other":  # harmony instruments sit to one side
        settings["pan"] *= float(rng.choice([-1.0, 1.0]))
    kind = _SEND_IR_KIND[stem]
    use_send = kind is not None and (stem != "drums" or rng.random() < _DRUM_ROOM_PROBABILITY)
    names = ir_names.get(kind, []) if kind else []
    if use_send and not names and kind == "pre_reverb":  # a user IR folder may have no rooms
        kind, names = "reverb", ir_names.get("reverb", [])
    settings["send"] = None
    if use_send and names:
        settings["send"] = {"ir_kind": kind, "ir_name": str(names[int(rng.integers(len(names)))]),
                            "send_db": round(float(rng.uniform(*ranges["send_db"])), 3),
                            "predelay_ms": round(float(rng.uniform(*ranges["predelay_ms"])), 3)}
    return settings


def apply_stem_chain(dry: np.ndarray, stem: str, settings: dict, irs: dict) -> np.ndarray:
    """Process one dry stem.

    Args:
        dry: float32 (n_samples, 2) at 44.1 kHz.
        stem: stem type (drums keep their stereo image; the others are panned as mono sources).
        settings: from :func:`draw_stem_settings`.
        irs: ``{(kind, name): ir}`` with ir float32 (n_ir, 2).

    Returns:
        float32 (n_samples, 2) wet stem at its target loudness.
    """
    board = pedalboard.Pedalboard([
        pedalboard.HighpassFilter(cutoff_frequency_hz=settings["highpass_hz"]),
        pedalboard.LowShelfFilter(cutoff_frequency_hz=settings["low_shelf_hz"], gain_db=settings["low_shelf_db"]),
        pedalboard.PeakFilter(cutoff_frequency_hz=settings["peak_hz"], gain_db=settings["peak_db"],
                              q=settings["q"]),
        pedalboard.HighShelfFilter(cutoff_frequency_hz=settings["high_shelf_hz"],
                                   gain_db=settings["high_shelf_db"]),
        pedalboard.Compressor(threshold_db=settings["threshold_db"], ratio=settings["ratio"],
                              attack_ms=settings["attack_ms"], release_ms=settings["release_ms"]),
    ])
    processed = board(np.ascontiguousarray(dry.T, dtype=np.float32), SAMPLE_RATE).T
    panned = pan_stereo(processed, settings["pan"], keep_image=(stem == "drums"))
    send = settings["send"]
    if send is not None:
        ir = irs[(send["ir_kind"], send["ir_name"])]
        panned = panned + reverb_send(panned, ir, send["send_db"], send["predelay_ms"])
    return match_lufs(panned, settings["target_lufs"]).astype(np.float32)


def pan_stereo(audio: np.ndarray, pan: float, keep_image: bool = False) -> np.ndarray:
    """Constant-power pan (-1 = left, +1 = right; centre keeps the level of each channel).

    Args:
        audio: (n_samples, 2).
        pan: position in [-1, 1].
        keep_image: balance the two channels instead of collapsing the stem to mono first.
    """
    angle = (pan + 1.0) * np.pi / 4.0
    gains = np.sqrt(2.0) * np.array([np.cos(angle), np.sin(angle)])
    source = audio if keep_image else np.repeat(audio.mean(axis=1, keepdims=True), 2, axis=1)
    return source * gains[None, :]


def reverb_send(audio: np.ndarray, ir: np.ndarray, send_db: float, predelay_ms: float) -> np.ndarray:
    """Reverb return of a send: each channel convolved with the matching IR channel (unit-energy IR), delayed.

    Args:
        audio: (n_samples, 2) send input.
        ir: (n_ir, 2) impulse response; its level is normalized so ``send_db`` sets the reverb level.
        send_db: send gain in dB.
        predelay_ms: delay of the return after the IR's direct sound, in ms.

    Returns:
        (n_samples, 2) reverb return, cut at the stem's length.
    """
    n_samples = audio.shape[0]
    direct = int(np.argmax(np.max(np.abs(ir), axis=1)))
    ir = ir[direct:] / np.sqrt(np.mean(np.sum(np.square(ir[direct:], dtype=np.float64), axis=0)))
    gain = 10.0 ** (send_db / 20.0)
    delay = int(round(predelay_ms * SAMPLE_RATE / 1000.0))
    wet = np.zeros_like(audio, dtype=np.float64)
    for channel in range(2):
        tail = fftconvolve(audio[:, channel].astype(np.float64) * gain, ir[:, channel % ir.shape[1]])
        wet[delay:, channel] = tail[: n_samples - delay]
    return wet


def match_lufs(audio: np.ndarray, target_lufs: float) -> np.ndarray:
    """Scale audio to an integrated loudness (BS.1770 via pyloudnorm); near-silent audio is returned unchanged."""
    loudness = pyloudnorm.Meter(SAMPLE_RATE).integrated_loudness(audio.astype(np.float64))
    if not np.isfinite(loudness) or loudness < -70.0:
        return audio
    return audio * 10.0 ** ((target_lufs - loudness) / 20.0)


def draw_bus_settings(rng: np.random.Generator) -> dict:
    """Bus limiter: ``max_reduction_db`` of gain reduction on the loudest peaks, peaks kept under ``ceiling_db``."""
    return {"max_reduction_db": round(float(rng.uniform(1.0, 4.0)), 3),
            "ceiling_db": round(float(rng.uniform(-1.5, -0.5)), 3),
            "release_ms": round(float(rng.uniform(60.0, 200.0)), 3)}


def trim_stems(stems: dict) -> tuple[dict, float]:
    """Lower all wet stems by one gain (dB) when the loudest peak would pass the ceiling; returns (stems, gain_db)."""
    peak = max(float(np.max(np.abs(s))) for s in stems.values())
    if peak <= _STEM_PEAK_CEILING:
        return stems, 0.0
    gain = _STEM_PEAK_CEILING / peak
    return {name: (s * gain).astype(np.float32) for name, s in stems.items()}, float(20.0 * np.log10(gain))


def mix_bus(stems: dict, settings: dict) -> np.ndarray:
    """Sum the wet stems through a gentle bus limiter.

    A fast compressor (ratio 10, 1 ms attack) whose threshold sits ``max_reduction_db`` under the sum's peak (and at
    least 1 dB under the ceiling) holds the loudest passages down; the few transient samples its attack lets through
    are clipped at ``ceiling_db``. pedalboard's own ``Limiter`` is not used: it always compresses 4:1 above
    -10 dBFS (JUCE's first stage), far from gentle on a mix. Below the threshold the mixture is the plain sum.

    Returns:
        float32 (n_samples, 2) mixture, peak at most ``ceiling_db`` (below 1).
    """
    total = np.sum([s.astype(np.float64) for s in stems.values()], axis=0)
    peak_db = 20.0 * np.log10(max(float(np.max(np.abs(total))), 1e-9))
    threshold_db = min(peak_db - settings["max_reduction_db"], settings["ceiling_db"] - 1.0)
    compressor = pedalboard.Compressor(threshold_db=threshold_db, ratio=10.0, attack_ms=1.0,
                                       release_ms=settings["release_ms"])
    limited = compressor(np.ascontiguousarray(total.T, dtype=np.float32), SAMPLE_RATE).T
    ceiling = 10.0 ** (settings["ceiling_db"] / 20.0)
    return np.clip(limited, -ceiling, ceiling).astype(np.float32)
