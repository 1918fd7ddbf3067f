"""Impulse responses for the demo dataset: find them in a user folder, or simulate rooms with pyroomacoustics.

Layout (the one the effect-normalization loaders read)::

    <root>/reverb/<name>/impulse_response.wav       long reverbs, RT60 2-4 s (reverb send of the "mix engineer")
    <root>/pre_reverb/<name>/impulse_response.wav   rooms, RT60 below 1.5 s (pre-reverb of dry stems)

Simulated rooms are shoebox rooms whose wall absorption comes from Sabine's formula (``pra.inverse_sabine``) for a
seeded target RT60, rendered by the image-source method at two microphones 20 cm apart (a stereo IR). Sabine's
formula is approximate for the image-source model, so the RT60 of every generated IR is measured (Schroeder decay)
and the target is corrected until it falls in the range. The image-source order is cut at 70 % of the one that
reaches -60 dB (the cost grows with its cube): the tail then ends near -42 dB, past what RT60 fits (T20/T30) use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from automix import audio
from automix.fxnorm.reverb import read_impulse_response

IR_KINDS = ("reverb", "pre_reverb")
IR_FILE_NAME = "impulse_response.wav"
RT60_RANGES_S = {"reverb": (2.0, 4.0), "pre_reverb": (0.2, 1.5)}
# Target RT60 drawn for a simulated room, and the measured (T20) RT60 accepted: inside RT60_RANGES_S with a margin,
# so that other estimators (T30, a 16-bit copy) also land inside.
_TARGET_RT60_S = {"reverb": (2.2, 3.0), "pre_reverb": (0.35, 0.9)}
_ACCEPTED_RT60_S = {"reverb": (2.2, 3.4), "pre_reverb": (0.25, 1.2)}
# Room sizes (length, width, height ranges in metres): halls for reverbs, rooms for pre-reverbs.
_ROOM_DIMS_M = {"reverb": ((18.0, 30.0), (12.0, 20.0), (8.0, 14.0)),
                "pre_reverb": ((4.0, 9.0), (3.5, 7.0), (2.5, 3.5))}
_MIC_SPACING_M = 0.2
_PEAK = 0.99
_ORDER_FRACTION = 0.7


def find_ir_files(ir_folder) -> dict[str, dict[str, Path]]:
    """List the IRs of a folder in the loader layout and check that each one is a readable 44.1 kHz file.

    Returns:
        ``{"reverb": {name: path}, "pre_reverb": {name: path}}``, names sorted; ``pre_reverb`` may be empty.

    Raises:
        FileNotFoundError: the folder does not exist or holds no ``reverb/<name>/impulse_response.wav``.
        audio.AudioError: an IR is unreadable, not 44.1 kHz, or has more than 2 channels.
    """
    root = Path(ir_folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: IR folder not found")
    found = {kind: {p.parent.name: p for p in sorted((root / kind).glob(f"*/{IR_FILE_NAME}"))} for kind in IR_KINDS}
    if not found["reverb"]:
        raise FileNotFoundError(
            f"{root}: no impulse responses found; expected {root}/reverb/<name>/{IR_FILE_NAME} "
            f"(and optionally {root}/pre_reverb/<name>/{IR_FILE_NAME})")
    for paths in found.values():
        for path in paths.values():
            read_impulse_response(path)  # the normalization's own check of an IR file
    return found


def estimate_rt60_s(ir: np.ndarray, sample_rate: int = audio.SAMPLE_RATE) -> float:
    """Reverberation time from the Schroeder decay curve (T20: fit from -5 to -25 dB, extrapolated to -60 dB).

    Args:
        ir: impulse response, shape (n_samples,) or (n_samples, n_channels); channels' energies are summed.
        sample_rate: in Hz.

    Returns:
        RT60 in seconds.
    """
    energy = np.square(np.asarray(ir, dtype=np.float64))
    if energy.ndim == 2:
        energy = energy.sum(axis=1)
    decay = np.cumsum(energy[::-1])[::-1]
    decay_db = 10.0 * np.log10(np.maximum(decay / decay[0], 1e-30))
    start, stop = np.argmax(decay_db <= -5.0), np.argmax(decay_db <= -25.0)
    if stop <= start:
        raise ValueError("impulse response decays by less than 25 dB; cannot estimate its RT60")
    times = np.arange(start, stop) / sample_rate
    slope_db_per_s = np.polyfit(times, decay_db[start:stop], 1)[0]
    return float(-60.0 / slope_db_per_s)


def simulate_room_ir(kind: str, rng: np.random.Generator, max_tries: int = 4) -> tuple[np.ndarray, dict]:
    """Simulate a stereo room impulse response whose measured RT60 lies in ``RT60_RANGES_S[kind]``.

    Args:
        kind: ``"reverb"`` (hall, RT60 2-4 s) or ``"pre_reverb"`` (room, RT60 below 1.5 s).
        rng: source of the room size, positions and target RT60.
        max_tries: corrections of the target RT60 before giving up.

    Returns:
        ``(ir, details)``: float32 IR of shape (n_samples, 2), peak 0.99, at 44.1 kHz; details (room size,
        positions, target and measured RT60) for the dataset's info file.
    """
    low, high = _ACCEPTED_RT60_S[kind]
    dims = [float(rng.uniform(*span)) for span in _ROOM_DIMS_M[kind]]
    source = _position_in(dims, rng)
    mic = _position_in(dims, rng, margin_m=1.0 + _MIC_SPACING_M)
    target_s = float(rng.uniform(*_TARGET_RT60_S[kind]))
    for _ in range(max_tries):
        ir = _shoebox_ir(dims, source, mic, target_s)
        measured_s = estimate_rt60_s(ir)
        if low < measured_s < high:
            break
        target_s *= (low + high) / 2.0 / measured_s  # Sabine misses the image-source decay: correct and retry
    else:
        raise RuntimeError(f"could not simulate a {kind} IR with RT60 in {low}-{high} s (last {measured_s:.2f} s)")
    ir = _trim_decay(ir)
    ir = (ir * (_PEAK / np.max(np.abs(ir)))).astype(np.float32)
    details = {"room_m": [round(d, 3) for d in dims], "source_m": [round(c, 3) for c in source],
               "mic_m": [round(c, 3) for c in mic], "target_rt60_s": round(target_s, 3),
               "rt60_s": round(estimate_rt60_s(ir), 3)}
    return ir, details


def _position_in(dims, rng: np.random.Generator, margin_m: float = 1.0) -> list[float]:
    horizontal = [float(rng.uniform(margin_m, d - margin_m)) for d in dims[:2]]
    return horizontal + [float(rng.uniform(1.2, min(2.0, dims[2] - 0.5)))]


def _shoebox_ir(dims, source, mic, rt60_s: float) -> np.ndarray:
    import pyroomacoustics as pra

    absorption, full_order = pra.inverse_sabine(rt60_s, dims)
    # full_order reaches the -60 dB point; the cost grows with its cube. Stopping at _ORDER_FRACTION of it keeps the
    # decay down to about -60 * _ORDER_FRACTION dB, well past the -35 dB that RT60 fits use, at a third of the cost.
    max_order = int(np.ceil(full_order * _ORDER_FRACTION))
    room = pra.ShoeBox(dims, fs=audio.SAMPLE_RATE, materials=pra.Material(absorption), max_order=max_order,
                       air_absorption=False, ray_tracing=False)
    room.add_source(source)
    mics = np.array([[mic[0] - _MIC_SPACING_M / 2, mic[0] + _MIC_SPACING_M / 2], [mic[1]] * 2, [mic[2]] * 2])
    room.add_microphone_array(mics)
    room.compute_rir()
    channels = [np.asarray(room.rir[m][0], dtype=np.float64) for m in range(2)]
    ir = np.zeros((max(len(c) for c in channels), 2))
    for index, channel in enumerate(channels):
        ir[: len(channel), index] = channel
    return ir


def _trim_decay(ir: np.ndarray, floor_db: float = -60.0, fade_ms: float = 10.0) -> np.ndarray:
    """Cut the IR where its Schroeder decay reaches ``floor_db``, with a short fade (the rest is silence)."""
    energy = np.square(ir).sum(axis=1)
    decay = np.cumsum(energy[::-1])[::-1]
    end = int(np.argmax(10.0 * np.log10(np.maximum(decay / decay[0], 1e-30)) <= floor_db)) or len(ir)
    trimmed = ir[:end].copy()
    n_fade = min(end, int(fade_ms * audio.SAMPLE_RATE / 1000))
    trimmed[end - n_fade:] *= np.linspace(1.0, 0.0, n_fade)[:, None]
    return trimmed


DEFAULT_IR_COUNTS = {"reverb": 2, "pre_reverb": 3}


def generated_ir_jobs(ir_root: Path, seed: int, counts=None) -> list[tuple]:
    """Arguments of :func:`write_generated_ir` for every IR to simulate (default 2 reverbs and 3 rooms)."""
    counts = DEFAULT_IR_COUNTS if counts is None else counts
    return [(Path(ir_root), kind, index, seed) for kind in IR_KINDS for index in range(counts.get(kind, 0))]


def write_generated_ir(job: tuple) -> tuple[str, str, Path, dict]:
    """Simulate one IR and write it in the loader layout; runs in a worker.

    Args:
        job: ``(ir_root, kind, index, seed)``; the IR's generator is ``SeedSequence([seed, 1000 + kind index,
            index])``, so it does not depend on the other IRs or on the worker count.

    Returns:
        ``(kind, name, path, details)``, e.g. ``("reverb", "hall_0", <ir_root>/reverb/hall_0/impulse_response.wav,
        {...})``.
    """
    ir_root, kind, index, seed = job
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1000 + IR_KINDS.index(kind), index]))
    ir, details = simulate_room_ir(kind, rng)
    name = f"{'hall' if kind == 'reverb' else 'room'}_{index}"
    path = Path(ir_root) / kind / name / IR_FILE_NAME
    audio.write(path, ir)
    return kind, name, path, details
