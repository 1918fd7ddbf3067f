"""Audio effects for training augmentation (numpy/scipy/pedalboard, never torch; spec §2.4).

Every effect keeps drawing its parameters apart from applying them:

* ``effect.draw(rng) -> dict``: random parameters from an explicit ``numpy.random.Generator``, in the ranges of the
  release (``pymixconsole``), each range a constructor argument;
* ``effect.apply(x, params, sample_rate) -> y``: deterministic; ``x`` float ``(n_samples, n_channels)``, ``y``
  float32 of the same shape (never in place);
* ``effect(x, rng, sample_rate)`` does both.

Where the project departs from the release (documented per class): the Haas copy is a linear delay, not a
circular shift; the reverb's pre-delay delays the wet signal (the release advanced it for both signs); pitch shift
and time stretch use Rubber Band through pedalboard instead of SoX, so the SoX-only options are not drawn.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import scipy.signal

from automix.conventions import SAMPLE_RATE
from automix.fxnorm.compressor import compress
from automix.fxnorm.convolution import convolve_segment
from automix.fxnorm.reverb import ImpulseResponse, shelf_coefficients

DISTORTION_MODES = ("hard_clip", "overdrive", "soft_sine", "tanh", "bit_crusher")
PAN_LAWS = ("-4.5dB", "linear", "constant_power")
REVERB_FADE_MS = 20.0


def _audio(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"effects take audio of shape (n_samples, n_channels), got {x.shape}")
    return x


def _stereo(x: np.ndarray) -> np.ndarray:
    return np.repeat(x, 2, axis=1) if x.shape[1] == 1 else x


def _uniform(rng: np.random.Generator, bounds) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _choice(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def fit_length(y: np.ndarray, n_samples: int) -> np.ndarray:
    """Centre-crop or symmetrically zero-pad ``y`` along time to ``n_samples`` (the release's length fix)."""
    if y.shape[0] >= n_samples:
        start = (y.shape[0] - n_samples) // 2
        return y[start:start + n_samples]
    before = (n_samples - y.shape[0]) // 2
    return np.pad(y, ((before, n_samples - y.shape[0] - before), (0, 0)))


class Effect:
    """Base class: subclasses define ``draw`` and ``apply``."""

    name: ClassVar[str] = "effect"

    def draw(self, rng: np.random.Generator) -> dict:
        raise NotImplementedError

    def apply(self, x: np.ndarray, params: dict, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        return self.apply(x, self.draw(rng), sample_rate)


@dataclass
class Gain(Effect):
    """Gain in dB and polarity flip (``invert`` with probability ``invert_probability``)."""

    name: ClassVar[str] = "gain"
    gain_db: tuple = (-12.0, 6.0)
    invert_probability: float = 0.5

    def draw(self, rng):
        return {"gain_db": _uniform(rng, self.gain_db), "invert": bool(rng.random() < self.invert_probability)}

    def apply(self, x, params, sample_rate=SAMPLE_RATE):
        gain = 10.0 ** (params["gain_db"] / 20.0) * (-1.0 if params["invert"] else 1.0)
        return (_audio(x) * np.float32(gain)).astype(np.float32)


@dataclass
class Distortion(Effect):
    """Waveshaping distortion; the output is rescaled to the input's peak if it came out quieter (``match_peak``).

    Modes: ``hard_clip`` clip(x·drive, ±threshold); ``overdrive`` SoX's overdrive (cubic soft clip with
    ``colour`` DC offset for even harmonics, DC-blocked, mixed 0.5·dry + 0.75·wet); ``soft_sine``
    sin(2·clip(x·drive, ±π/4)); ``tanh`` tanh(2·x·drive); ``bit_crusher`` round(x·2^bits)/2^bits.
    """

    name: ClassVar[str] = "distortion"
    modes: tuple = DISTORTION_MODES
    threshold_db: tuple = (-20.0, 0.0)
    drive_db: tuple = (0.0, 20.0)
    colour: tuple = (0.0, 100.0)
    bits: tuple = (8, 11)
    match_peak: bool = True

    def __post_init__(self):
        unknown = set(self.modes) - set(DISTORTION_MODES)
        if unknown:
            raise ValueError(f"distortion modes {sorted(unknown)} unknown; choose from {DISTORTION_MODES}")

    def draw(self, rng):
        return {"mode": _choice(rng, tuple(self.modes)), "threshold_db": _uniform(rng, self.threshold_db),
                "drive_db": _uniform(rng, self.drive_db), "colour": _uniform(rng, self.colour),
                "bits": int(rng.integers(self.bits[0], self.bits[1] + 1))}

    def apply(self, x, params, sample_rate=SAMPLE_RATE):
        x = _audio(x).astype(np.float64)
        drive = 10.0 ** (params["drive_db"] / 20.0)
        mode = params["mode"]
        if mode == "hard_clip":
            limit = 10.0 ** (params["threshold_db"] / 20.0)
            y = np.clip(x * drive, -limit, limit)
        elif mode == "overdrive":
            y = _overdrive(x, params["drive_db"], params["colour"])
        elif mode == "soft_sine":
            y = np.sin(2.0 * np.clip(x * drive, -np.pi / 4, np.pi / 4))
        elif mode == "tanh":
            y = np.tanh(2.0 * x * drive)
        elif mode == "bit_crusher":
            y = np.round(x * 2.0 ** params["bits"]) / 2.0 ** params["bits"]
        else:
            raise ValueError(f"distortion mode {mode!r} unknown; choose from {DISTORTION_MODES}")
        peak_in, peak_out = np.max(np.abs(x), initial=0.0), np.max(np.abs(y), initial=0.0)
        if self.match_peak and 0.0 < peak_out < peak_in:
            y = y * (peak_in / peak_out)
        return y.astype(np.float32)


def _overdrive(x: np.ndarray, gain_db: float, colour: float) -> np.ndarray:
    """SoX ``overdrive gain colour`` (input pre-scaled to a 0.9 peak if louder and rescaled after, as the release)."""
    peak = np.max(np.abs(x), initial=0.0)
    scale = 0.9 / peak if peak > 0.9 else 1.0
    d = x * scale * 10.0 ** (gain_db / 20.0) + colour / 200.0
    d = np.where(d < -1.0, -2.0 / 3.0, np.where(d > 1.0, 2.0 / 3.0, d - d ** 3 / 3.0))
    blocked = scipy.signal.lfilter([1.0, -1.0], [1.0, -0.995], d, axis=0)  # SoX's one-pole DC blocker
    return np.clip(0.5 * x * scale + 0.75 * blocked, -1.0, 1.0) / scale


def peaking_coefficients(freq_hz: float, gain_db: float, q: float, sample_rate: int = SAMPLE_RATE):
    """RBJ-cookbook peaking biquad ``(b, a)`` normalized by ``a0``."""
    amp = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * freq_hz / sample_rate
    alpha = np.sin(w0) / (2.0 * q)
    b = np.array([1.0 + alpha * amp, -2.0 * np.cos(w0), 1.0 - alpha * amp])
    a = np.array([1.0 + alpha / amp, -2.0 * np.cos(w0), 1.0 - alpha / amp])
    return b / a[0], a / a[0]


EQ_BANDS = {  # name -> (kind, frequency range in Hz); the release's five bands
    "low_shelf": ("low", (30.0, 200.0)),
    "band_1": ("peak", (200.0, 1000.0)),
    "band_2": ("peak", (1000.0, 3000.0)),
    "band_3": ("peak", (3000.0, 8000.0)),
    "high_shelf": ("high", (5000.0, 10000.0)),
}


@dataclass
class Equaliser(Effect):
    """Up to five RBJ biquads in series: low shelf, three peaking bands, high shelf (shelves Q 0.707)."""

    name: ClassVar[str] = "eq"
    bands: tuple = tuple(EQ_BANDS)
    gain_db: tuple = (-15.0, 15.0)
    q: tuple = (0.1, 2.0)
    shelf_q: float = 0.707

    def __post_init__(self):
        unknown = set(self.bands) - set(EQ_BANDS)
        if unknown:
            raise ValueError(f"EQ bands {sorted(unknown)} unknown; choose from {tuple(EQ_BANDS)}")

    def draw(self, rng):
        bands = []
        for band in self.bands:
            kind, freq_range = EQ_BANDS[band]
            bands.append({"band": band, "freq_hz": _uniform(rng, freq_range), "gain_db": _uniform(rng, self.gain_db),
                          "q": _uniform(rng, self.q) if kind == "peak" else self.shelf_q})
        return {"bands": bands}

    def apply(self, x, params, sample_rate=SAMPLE_RATE):
        from automix.fxnorm.kernels import sos_filter  # lazy: numba

        sections = []
        for band in params["bands"]:
            kind = EQ_BANDS[band["band"]][0]
            if kind == "peak":
                b, a = peaking_coefficients(band["freq_hz"], band["gain_db"], band["q"], sample_rate)
            else:
                b, a = shelf_coefficients(kind, band["freq_hz"], band["gain_db"], band["q"], sample_rate)
            sections.append(np.concatenate([b, a]))
        x = _audio(x)
        return x.copy() if not sections else sos_filter(np.ascontiguousarray(x), np.array(sections))


@dataclass
class Compressor(Effect):
    """The release's compressor (:func:`automix.fxnorm.compressor.compress`), channels independent.

    A ratio below 1 is the release's upward expander below the threshold (the range includes it).
    """

    name: ClassVar[str] = "compressor"
    threshold_db: tuple = (-40.0, 0.0)
    attack_ms: tuple = (0.03, 500.0)
    release_ms: tuple = (50.0, 1000.0)
    ratio: tuple = (0.05, 20.0)
    makeup_db: tuple = (-3.0, 6.0)

    def draw(self, rng):
        return {key: _uniform(rng, getattr(self, key))
                for key in ("threshold_db", "attack_ms", "release_ms", "ratio", "makeup_db")}

    def apply(self, x, params, sample_rate=SAMPLE_RATE):
        return compress(_audio(x), params["threshold_db"], params["ratio"], params["attack_ms"],
                        params["release_ms"], sample_rate, params["makeup_db"]).astype(np.float32)


@dataclass
class ConvolutionalReverb(Effect):
    """Convolution with an IR: ``dry·x + wet·conv(x, IR)``, the wet part aligned to the IR's peak.

    ``decay < 1`` fades the IR out over 20 ms (to -100 dB) from ``peak + decay·(len - peak)`` and truncates it
    there. ``pre_delay_ms > 0`` delays the wet signal, ``< 0`` advances it. A mono IR serves every channel; a stereo
    IR pairs channels, or gives one random channel (``ir_channel``) to a mono input.
    """

    name: ClassVar[str] = "reverb"
    irs: list = field(default_factory=list, repr=False)
    wet: tuple = (0.1, 1.0)
    dry: tuple = (0.1, 1.0)
    decay: tuple = (0.1, 1.0)
    pre_delay_ms: tuple = (-100, 100)

    def __post_init__(self):
        if not self.irs:
            raise ValueError("reverb needs impulse responses: pass ir_dir (folder of <name>/impulse_response.wav)")

    def draw(self, rng):
        return {"index": int(rng.integers(len(self.irs))), "wet": _uniform(rng, self.wet),
                "dry": _uniform(rng, self.dry), "decay": _uniform(rng, self.decay),
                "pre_delay_ms": int(rng.integers(self.pre_delay_ms[0], self.pre_delay_ms[1])),
                "ir_channel": int(rng.integers(2))}

    def apply(self, x, params, sample_rate=SAMPLE_RATE):
        x = _audio(x)
        if params["wet"] == 0:
            return x.copy()
        ir = self.irs[params["index"]]
        ir = ir.audio if isinstance(ir, ImpulseResponse) else np.asarray(ir, dtype=np.float32)
        peak = int(np.argmax(np.max(np.abs(ir), axis=1)))
        if params["decay"] < 1:
            ir = decay_impulse_response(ir, peak, params["decay"], sample_rate)
        if ir.shape[1] == 1:
            kernel = np.repeat(ir, x.shape[1], axis=1)
        elif x.shape[1] == 1:
            kernel = ir[:, [params["ir_channel"] % ir.shape[1]]]
        else:
            kernel = ir[:, : x.shape[1]]
        start = peak - int(round(params["pre_delay_ms"] * sample_rate / 1000.0))
        wet = convolve_segment(x, kernel, start)
        return (params["dry"] * x + params["wet"] * wet).astype(np.float32)


def decay_impulse_response(ir: np.ndarray, peak: int, decay: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Shorten an IR: from ``peak + decay·(len - peak)`` fade over 20 ms with ``0.1^(5k/L)`` and cut (a copy)."""
    fade_length = int(REVERB_FADE_MS * sample_rate / 1000.0)
    fade_start = peak + int(decay * (ir.shape[0] - peak))
    out = ir[: fade_start + fade_length].astype(np.float32, copy=True)
    tail = out[fade_start:]
    tail *= (0.1 ** (5.0 * np.arange(1, fade_length + 1) / fade_length))[: tail.shape[0], None].astype(np.float32)
    return out


@dataclass
class Haas(Effect):
    """Adds ``feedback`` × a delayed copy of one channel to itself (delay in samples, negative = advanced).

    The release shifted circularly (the end wrapped to the start); here the copy is a plain delay.
    """

    name: ClassVar[str] = "haas"
    delay_samples: tuple = (-1764, 1764)
    feedback: tuple = (0.33, 0.66)

    def draw(self, rng):
        return {"delay_samples": int(rng.integers(self.delay_samples[0], self.delay_samples[1])),
                "feedback": _uniform(rng, self.feedback), "channel": int(rng.integers(2))}

    def apply(self, x, params, sample_rate=SAMPLE_RATE):
        y = _stereo(_audio(x)).copy()
        channel, delay = params["channel"], params["delay_samples"]
        source = y[:, channel].copy()
        shifted = np.zeros_like(source)
        if delay >= 0:
            shifted[delay:] = source[: source.shape[0] - delay]
        else:
            shifted[:delay] = source[-delay:]
        y[:, channel] += np.float32(params["feedback"]) * shifted
        return y


@dataclass
class Panner(Effect):
    """Stereo panning: ``pan`` 0 = left, 1 = right; gains (L, R) by the pan law (θ = pan·π/2).

    linear (1 - pan, pan); constant_power (cos θ, sin θ); -4.5dB (sqrt((1 - pan)·cos θ), sqrt(pan·sin θ)).
    """

    name: ClassVar[str] = "panner"
    pan: tuple = (0.0, 1.0)
    pan_laws: tuple = PAN_LAWS

    def __post_init__(self):
        unknown = set(self.pan_laws) - set(PAN_LAWS)
        if unknown:
            raise ValueError(f"pan laws {sorted(unknown)} unknown; choose from {PAN_LAWS}")

    def draw(self, rng):
        return {"pan": _uniform(rng, self.pan), "pan_law": _choice(rng, tuple(self.pan_laws))}

    def apply(self, x, params, sample_rate=SAMPLE_RATE):
        pan, law = params["pan"], params["pan_law"]
        theta = pan * np.pi / 2.0
        if law == "linear":
            gains = (1.0 - pan, pan)
        elif law == "constant_power":
            gains = (np.cos(theta), np.sin(theta))
        elif law == "-4.5dB":
            gains = (np.sqrt((1.0 - pan) * np.cos(theta)), np.sqrt(pan * np.sin(theta)))
        else:
            raise ValueError(f"pan law {law!r} unknown; choose from {PAN_LAWS}")
        return (_stereo(_audio(x)) * np.asarray(gains, dtype=np.float32)).astype(np.float32)


@dataclass
class SwapChannels(Effect):
    """A channel permutation drawn uniformly over all of them (identity included)."""

    name: ClassVar[str] = "swap_channels"
    n_channels: int = 2

    def draw(self, rng):
        return {"permutation": list(_choice(rng, list(itertools.permutations(range(self.n_channels)))))}

    def apply(self, x, params, sample_rate=SAMPLE_RATE):
        x = _audio(x)
        return x.copy() if x.shape[1] == 1 else x[:, params["permutation"]].copy()


@dataclass
class Monauralize(Effect):
    """Copies one randomly chosen channel to all channels."""

    name: ClassVar[str] = "monauralize"
    n_channels: int = 2

    def draw(self, rng):
        return {"channel": int(rng.integers(self.n_channels))}

    def apply(self, x, params, sample_rate=SAMPLE_RATE):
        x = _audio(x)
        return np.repeat(x[:, [params["channel"] % x.shape[1]]], x.shape[1], axis=1)


@dataclass
class PitchShift(Effect):
    """Pitch shift by ``semitones`` (pedalboard / Rubber Band), length kept (centre crop or symmetric zero pad)."""

    name: ClassVar[str] = "pitch_shift"
    semitones: tuple = (-6.0, 6.0)

    def draw(self, rng):
        return {"semitones": _uniform(rng, self.semitones)}

    def apply(self, x, params, sample_rate=SAMPLE_RATE):
        import pedalboard

        x = _audio(x)
        y = pedalboard.PitchShift(semitones=params["semitones"])(np.ascontiguousarray(x.T), sample_rate)
        return fit_length(np.asarray(y, dtype=np.float32).T, x.shape[0]).copy()


@dataclass
class TimeStretch(Effect):
    """Tempo change by ``factor`` (> 1 faster) without pitch change (pedalboard.time_stretch), length kept."""

    name: ClassVar[str] = "time_stretch"
    factor: tuple = (1.0 / 1.33, 1.33)

    def draw(self, rng):
        return {"factor": _uniform(rng, self.factor)}

    def apply(self, x, params, sample_rate=SAMPLE_RATE):
        import pedalboard

        x = _audio(x)
        y = pedalboard.time_stretch(np.ascontiguousarray(x.T), sample_rate, stretch_factor=params["factor"])
        return fit_length(np.asarray(y, dtype=np.float32).T, x.shape[0]).copy()
