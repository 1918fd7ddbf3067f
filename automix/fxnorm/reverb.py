"""Reverb send ("Abbey Road trick") and pre-reverb for dry stems (spec §1.4, §2.5).

Reverb send (vocals and other only): ``y = x + conv(band_pass(x), IR)`` where the band-pass is a -30 dB low shelf at
U(500, 700) Hz followed by a -30 dB high shelf at U(7000, 10000) Hz (RBJ cookbook, Q 0.707), and the convolution
output is aligned to the IR's peak. The IR and both corner frequencies are drawn from the caller's
``numpy.random.Generator`` (one per song and stem), so a run is reproducible and independent of the worker count.
The release drew them from unseeded global NumPy state in forked workers (few distinct draws per dataset, spec §1.4);
that bug is not reproduced in either mode.

Pre-reverb (dry input, inference): ``fixed`` = ``0.5·x + 0.5·conv(x, short IR)``; ``release`` = the band-pass only
(the release swapped the EQ and reverb probabilities, so no reverb was applied).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from automix import audio
from automix.conventions import SAMPLE_RATE
from automix.fxnorm.convolution import convolve_segment

REVERB_STEMS = ("vocals", "other")
SEND_SHELF_GAIN_DB = -30.0
SEND_SHELF_Q = 0.707
LOW_SHELF_RANGE_HZ = (500.0, 700.0)
HIGH_SHELF_RANGE_HZ = (7000.0, 10000.0)
PRE_REVERB_WET = 0.5
PRE_REVERB_DRY = 0.5
IR_FILE_NAME = "impulse_response.wav"


@dataclass
class ImpulseResponse:
    """An IR file, read on first use (so lists of IRs are cheap to send to worker processes).

    Attributes:
        path: ``<root>/<name>/impulse_response.wav``.
        name: the folder name.
    """

    path: Path
    name: str
    _audio: np.ndarray | None = field(default=None, repr=False)

    @property
    def audio(self) -> np.ndarray:
        """float32 ``(n_samples, 1 or 2)``, amplitude as stored in the file (no normalization)."""
        if self._audio is None:
            self._audio = read_impulse_response(self.path)
        return self._audio


def read_impulse_response(path) -> np.ndarray:
    """Read one IR file and check it: readable, complete, 44.1 kHz, non-empty, mono or stereo, not all zeros.

    The one check of an IR file, used by the normalization and by the demo-data generator.

    Returns:
        float32 ``(n_samples, 1 or 2)``, amplitude as stored in the file (integer PCM scaled as ``automix.audio``).

    Raises:
        automix.audio.AudioError (a ValueError): naming the file and the fix.
    """
    path = Path(path)
    rate, n_samples, n_channels = audio.info(path)  # missing or unreadable file
    if rate != SAMPLE_RATE:
        raise audio.AudioError(f"{path}: impulse response is {rate} Hz; IRs must be {SAMPLE_RATE} Hz (resample it "
                               "and keep the folder layout)")
    if n_channels > 2 or n_samples == 0:
        raise audio.AudioError(f"{path}: impulse response has {n_channels} channels and {n_samples} samples; IRs "
                               "must be non-empty mono or stereo files")
    ir = audio.read(path, sample_rate=None, channels=n_channels)  # truncated, corrupt or NaN files
    if not np.any(ir):
        raise audio.AudioError(f"{path}: impulse response is all zeros")
    return ir


def find_impulse_responses(folder) -> list[ImpulseResponse]:
    """All ``<folder>/**/impulse_response.wav`` files, sorted by path, with their sample rate checked.

    Raises:
        FileNotFoundError: if the folder does not exist or holds no IR.
        automix.audio.AudioError (a ValueError): naming the first IR that cannot be used (see
            :func:`read_impulse_response`).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: impulse-response folder not found")
    paths = sorted(folder.rglob(IR_FILE_NAME))
    if not paths:
        raise FileNotFoundError(f"{folder}: no '<name>/{IR_FILE_NAME}' file found")
    for path in paths:
        read_impulse_response(path)  # fail before any output is written, naming the file
    return [ImpulseResponse(path=p, name=str(p.parent.relative_to(folder))) for p in paths]


def shelf_coefficients(kind: str, freq_hz: float, gain_db: float, q: float = SEND_SHELF_Q,
                       sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """RBJ-cookbook shelving biquad ``(b, a)`` normalized by ``a0``; ``kind`` is ``"low"`` or ``"high"``."""
    amp = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * freq_hz / sample_rate
    cos, alpha = np.cos(w0), np.sin(w0) / (2.0 * q)
    root = 2.0 * np.sqrt(amp) * alpha
    sign = 1.0 if kind == "low" else -1.0
    if kind not in ("low", "high"):
        raise ValueError(f"shelf kind must be 'low' or 'high', got {kind!r}")
    b = amp * np.array([(amp + 1) - sign * (amp - 1) * cos + root,
                        sign * 2 * ((amp - 1) - sign * (amp + 1) * cos),
                        (amp + 1) - sign * (amp - 1) * cos - root])
    a = np.array([(amp + 1) + sign * (amp - 1) * cos + root,
                  -sign * 2 * ((amp - 1) + sign * (amp + 1) * cos),
                  (amp + 1) + sign * (amp - 1) * cos - root])
    return b / a[0], a / a[0]


def send_band_pass(x: np.ndarray, low_hz: float, high_hz: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The send EQ: -30 dB low shelf at ``low_hz`` then -30 dB high shelf at ``high_hz``; float32, not in place."""
    from automix.fxnorm.kernels import sos_filter  # lazy: numba

    sos = np.array([np.concatenate(shelf_coefficients(kind, f, SEND_SHELF_GAIN_DB, SEND_SHELF_Q, sample_rate))
                    for kind, f in (("low", low_hz), ("high", high_hz))])
    x = np.asarray(x)
    if x.ndim == 1:
        return sos_filter(np.ascontiguousarray(x[:, None], dtype=np.float32), sos)[:, 0]
    return sos_filter(np.ascontiguousarray(x) if x.dtype in (np.float32, np.float64) else x.astype(np.float32), sos)


def convolve_aligned(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """Per-channel convolution with the IR, keeping ``[p : p + n]`` where ``p`` is the IR's peak index.

    A mono IR is used on both channels; a stereo IR pairs L with L and R with R.
    """
    ir = np.repeat(ir, x.shape[1], axis=1) if ir.shape[1] == 1 else ir[:, : x.shape[1]]
    peak = int(np.argmax(np.max(np.abs(ir), axis=1)))
    # Blocked overlap-save (FFT size up to 2^20): ~1.6x less CPU time than one FFT of the whole song, which allocated
    # several whole-song arrays (their page faults cost as much as the FFTs).
    return convolve_segment(np.asarray(x, dtype=np.float32), ir, peak)


def _draw_send(irs: list[ImpulseResponse], rng: np.random.Generator) -> tuple[ImpulseResponse, float, float]:
    if not irs:
        raise ValueError("reverb needs at least one impulse response")
    if not isinstance(rng, np.random.Generator):  # no silent fallback: one fixed seed would give every stem one draw
        raise ValueError(f"reverb draws an IR and two shelf corners: give rng=numpy.random.Generator (e.g. "
                         f"automix.fxnorm.stem_rng(seed, song, stem)), got {type(rng).__name__}")
    ir = irs[int(rng.integers(len(irs)))]
    return ir, float(rng.uniform(*LOW_SHELF_RANGE_HZ)), float(rng.uniform(*HIGH_SHELF_RANGE_HZ))


def apply_reverb_send(x: np.ndarray, irs: list[ImpulseResponse], rng: np.random.Generator,
                      sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, dict]:
    """Add a band-passed convolution reverb to a stem (spec §1.4); same in both modes.

    Args:
        x: stem ``(n_samples, n_channels)``; not modified.
        irs: candidate IRs (one drawn uniformly).
        rng: the stem's generator (draws: IR index, low-shelf Hz, high-shelf Hz).

    Returns:
        ``(y, report)``: float32 ``x + wet``; report names the IR and the shelf corners.
    """
    ir, low_hz, high_hz = _draw_send(irs, rng)
    wet = convolve_aligned(send_band_pass(x, low_hz, high_hz, sample_rate), ir.audio)
    wet += x  # in place: the dry path is added without another whole-song array
    return wet, {"ir": ir.name, "low_shelf_hz": low_hz, "high_shelf_hz": high_hz}


def apply_pre_reverb(x: np.ndarray, irs: list[ImpulseResponse], rng: np.random.Generator, mode: str = "fixed",
                     sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, dict]:
    """Make a dry stem resemble a wet one before normalization (vocals and other).

    ``fixed``: ``0.5·x + 0.5·conv(x, IR)`` (IR-peak aligned, no EQ). ``release``: the send band-pass only, no reverb
    (the published behaviour, see module docstring).

    Returns:
        ``(y, report)``: float32 audio like ``x``; report with the IR name or the shelf corners.
    """
    ir, low_hz, high_hz = _draw_send(irs, rng)
    if mode == "release":
        return send_band_pass(x, low_hz, high_hz, sample_rate), {"eq_only": True, "low_shelf_hz": low_hz,
                                                                 "high_shelf_hz": high_hz}
    if mode != "fixed":
        raise ValueError(f"mode must be 'fixed' or 'release', got {mode!r}")
    wet = convolve_aligned(x, ir.audio)
    return PRE_REVERB_DRY * x.astype(np.float32) + PRE_REVERB_WET * wet, {"ir": ir.name}
