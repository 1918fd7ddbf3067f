"""Augmentation effects with known answers, the chain, the config builder, draw/apply determinism."""
import subprocess
import sys

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from automix import audio
from automix.data.augment import (EFFECTS, AugmentationChain, Compressor, Distortion, Equaliser, Gain, Haas,
                                  Monauralize, Panner, PitchShift, SwapChannels, TimeStretch, build_augmentation)

SR = 44100


def noise(n=SR, seed=0, level=0.1):
    return (np.random.default_rng(seed).standard_normal((n, 2)) * level).astype(np.float32)


def sine(freq_hz, n=SR, amplitude=0.5):
    t = np.arange(n) / SR
    return np.stack([amplitude * np.sin(2 * np.pi * freq_hz * t)] * 2, axis=1).astype(np.float32)


def db(ratio):
    return 20 * np.log10(ratio)


def rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def write_irs(root, decay_s=0.3, rate=SR):
    rng = np.random.default_rng(3)
    for k, channels in enumerate((1, 2)):
        n = int(decay_s * rate)
        ir = 0.05 * rng.standard_normal((n, channels)) * np.exp(-np.arange(n) / (0.05 * rate))[:, None]
        ir[0] = 0.5  # the peak: the wet signal is aligned to it
        (root / f"ir{k}").mkdir(parents=True)
        sf.write(str(root / f"ir{k}" / "impulse_response.wav"), ir.astype(np.float32), rate, subtype="FLOAT")
    return root


def test_gain_and_polarity():
    x = noise()
    y = Gain().apply(x, {"gain_db": 6.0, "invert": False})
    assert abs(db(rms(y) / rms(x)) - 6.0) < 0.01
    assert np.array_equal(Gain().apply(x, {"gain_db": 0.0, "invert": True}), -x)


def test_swap_and_monauralize():
    x = noise()
    assert np.array_equal(SwapChannels().apply(x, {"permutation": [1, 0]}), x[:, ::-1])
    y = Monauralize().apply(x, {"channel": 1})
    assert np.array_equal(y[:, 0], y[:, 1]) and np.array_equal(y[:, 0], x[:, 1])


@pytest.mark.parametrize("law, expected", [("linear", (1.0, 0.0)), ("constant_power", (1.0, 0.0)),
                                           ("-4.5dB", (1.0, 0.0))])
def test_panner_hard_left(law, expected):
    x = noise()
    y = Panner().apply(x, {"pan": 0.0, "pan_law": law})
    assert np.allclose(y[:, 0], x[:, 0] * expected[0], atol=1e-7) and np.max(np.abs(y[:, 1])) < 1e-7
    centre = Panner().apply(x, {"pan": 0.5, "pan_law": law})
    gain = {"linear": 0.5, "constant_power": np.cos(np.pi / 4), "-4.5dB": np.sqrt(0.5 * np.cos(np.pi / 4))}[law]
    assert np.allclose(centre, x * gain, atol=1e-6)  # -6, -3 and -4.5 dB in the centre


def test_haas_adds_a_delayed_copy():
    x = np.zeros((1000, 2), np.float32)
    x[100] = [1.0, 0.5]
    y = Haas().apply(x, {"delay_samples": 50, "feedback": 0.4, "channel": 0})
    assert y[100, 0] == 1.0 and y[150, 0] == pytest.approx(0.4) and np.count_nonzero(y[:, 0]) == 2
    assert np.array_equal(y[:, 1], x[:, 1])
    early = Haas().apply(x, {"delay_samples": -30, "feedback": 0.5, "channel": 1})
    assert early[70, 1] == pytest.approx(0.25) and early[100, 1] == 0.5


def band_gain_db(x, y, lo_hz, hi_hz):
    f, pxx = scipy.signal.welch(x[:, 0], SR, nperseg=4096)
    _, pyy = scipy.signal.welch(y[:, 0], SR, nperseg=4096)
    band = (f >= lo_hz) & (f <= hi_hz)
    return 10 * np.log10(np.mean(pyy[band]) / np.mean(pxx[band]))


def test_eq_shelf_and_peak_gains():
    x = noise(4 * SR)
    shelf = Equaliser(bands=("high_shelf",))
    y = shelf.apply(x, {"bands": [{"band": "high_shelf", "freq_hz": 5000.0, "gain_db": 6.0, "q": 0.707}]})
    assert abs(band_gain_db(x, y, 12000, 18000) - 6.0) < 1.0
    assert abs(band_gain_db(x, y, 50, 1000)) < 1.0
    tone = sine(1000.0)
    peak = Equaliser().apply(tone, {"bands": [{"band": "band_2", "freq_hz": 1000.0, "gain_db": -9.0, "q": 1.0}]})
    assert abs(db(rms(peak[SR // 2:]) / rms(tone[SR // 2:])) + 9.0) < 0.1
    assert len(Equaliser().draw(np.random.default_rng(0))["bands"]) == 5


def test_compressor_reduces_crest_factor():
    k = np.arange(SR) % 4410
    envelope = np.minimum(k / 88.0, 1.0) * np.exp(-k / 1500.0)  # drum-like hits every 100 ms, 2 ms attack
    x = (noise(SR, seed=1, level=1.0) * envelope[:, None] * 0.8).astype(np.float32)
    y = Compressor().apply(x, {"threshold_db": -20.0, "ratio": 8.0, "attack_ms": 0.03, "release_ms": 50.0,
                               "makeup_db": 0.0})
    crest = lambda s: np.max(np.abs(s)) / rms(s)  # noqa: E731
    assert crest(y) < 0.75 * crest(x)  # measured 8.6 -> 5.5
    tone = sine(220.0)  # -6 dBFS peak; slow release holds the peak's reduction: -20 + (-6 + 20)/4 = -16.5 dB
    held = Compressor().apply(tone, {"threshold_db": -20.0, "ratio": 4.0, "attack_ms": 0.03, "release_ms": 1000.0,
                                     "makeup_db": 0.0})
    assert abs(db(np.max(np.abs(held[SR // 2:]))) + 16.5) < 0.5


def test_distortion_hard_clip_bounds_the_peak():
    x = sine(100.0)
    params = {"mode": "hard_clip", "threshold_db": -12.0, "drive_db": 0.0, "colour": 20.0, "bits": 8}
    limit = 10 ** (-12 / 20)
    clipped = Distortion(match_peak=False).apply(x, params)
    assert np.max(np.abs(clipped)) == pytest.approx(limit, rel=1e-6)
    rescaled = Distortion().apply(x, params)  # the release rescales to the input's peak: flat tops at 0.5
    peak = np.max(np.abs(x))
    assert np.max(np.abs(rescaled)) == pytest.approx(peak, rel=1e-6)
    assert np.mean(np.isclose(np.abs(rescaled), peak)) > 0.4


def test_distortion_modes():
    x = sine(441.0)
    base = {"threshold_db": 0.0, "drive_db": 6.0, "colour": 0.0, "bits": 4}
    crushed = Distortion(match_peak=False).apply(x, dict(base, mode="bit_crusher"))
    assert np.allclose(crushed * 16, np.round(crushed * 16)) and len(np.unique(crushed)) <= 17

    def harmonic_db(y, k):
        spectrum = np.abs(np.fft.rfft(y[:, 0]))  # 1-s signal: bin = Hz
        return db(spectrum[441 * k] / spectrum[441])

    for mode in ("tanh", "soft_sine", "overdrive"):
        y = Distortion().apply(x, dict(base, mode=mode))
        assert np.max(np.abs(y)) <= 1.0 and harmonic_db(y, 3) > -40  # odd harmonics added
    even = Distortion().apply(x, dict(base, mode="overdrive", colour=100.0))
    odd = Distortion().apply(x, dict(base, mode="overdrive", colour=0.0))
    assert harmonic_db(even, 2) > harmonic_db(odd, 2) + 20  # colour adds even harmonics


def dominant_hz(x):
    segment = x[SR // 4: 3 * SR // 4, 0] * np.hanning(SR // 2)
    spectrum = np.abs(np.fft.rfft(segment, 8 * SR))
    return np.argmax(spectrum) / 8.0


def test_pitch_shift_octave_doubles_frequency():
    x = sine(440.0)
    y = PitchShift().apply(x, {"semitones": 12.0})
    assert y.shape == x.shape
    assert abs(dominant_hz(y) / 880.0 - 1) < 0.02


def test_time_stretch_keeps_length():
    x = noise(SR // 2) * np.exp(-(np.arange(SR // 2) % 2205) / 200.0)[:, None]  # clicks every 50 ms
    for factor in (0.75, 1.33):
        y = TimeStretch().apply(x, {"factor": factor})
        assert y.shape == x.shape and y.dtype == np.float32
        assert not np.allclose(y, x, atol=1e-3)


def test_reverb_adds_a_tail_and_pre_delay(tmp_path):
    chain = build_augmentation([{"effect": "reverb"}], write_irs(tmp_path / "irs"))
    reverb = chain.fxs[0][0]
    x = np.zeros((SR, 2), np.float32)
    x[1000:1500] = noise(500, level=0.5)
    params = {"index": 0, "wet": 1.0, "dry": 1.0, "decay": 1.0, "pre_delay_ms": 0, "ir_channel": 0}
    y = reverb.apply(x, params)
    assert rms(y[2000:6000]) > 1e-3 and rms(x[2000:6000]) == 0  # energy after the dry signal ends
    ir = reverb.irs[0].audio[:, 0]
    expected = x + np.stack([scipy.signal.fftconvolve(x[:, c], ir)[:SR] for c in range(2)], axis=1)  # peak at 0
    assert np.allclose(y, expected, atol=1e-5)
    short = reverb.apply(x, dict(params, decay=0.1))
    assert rms(short[6000:]) < 1e-6 < rms(y[6000:])  # decay shortens the IR
    delayed = reverb.apply(x, dict(params, dry=0.0, pre_delay_ms=10))
    assert np.max(np.abs(delayed[:1441])) < 1e-6 < np.max(np.abs(delayed[1441:1500]))  # 10 ms = 441 samples later
    mono = reverb.apply(x[:, :1], dict(params, index=1, ir_channel=1))
    assert mono.shape == (SR, 1)


def test_bad_impulse_response_is_named(tmp_path):
    irs = write_irs(tmp_path / "irs")
    sf.write(str(irs / "ir1" / "impulse_response.wav"), np.ones((100, 1), np.float32), 48000)
    with pytest.raises(audio.AudioError, match=r"ir1/impulse_response\.wav.*44100"):
        build_augmentation([{"effect": "reverb"}], irs)


def test_builder_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown effect 'reverbb'.*did you mean 'reverb'"):
        build_augmentation([{"effect": "reverbb"}])
    with pytest.raises(ValueError, match=r"augmentation\[0\] \(gain\): unknown key 'gain'"):
        build_augmentation([{"effect": "gain", "gain": (0, 1)}])
    with pytest.raises(ValueError, match="ir_dir"):
        build_augmentation([{"effect": "reverb"}])
    assert build_augmentation(None) is None and build_augmentation([]) is None


def test_chain_probability_rms_normalize_parallel():
    x = noise()
    gain = Gain(gain_db=(12.0, 12.0), invert_probability=0.0)
    never = AugmentationChain([(gain, 0.0, False)])
    assert np.array_equal(never(x, np.random.default_rng(0)), x)
    kept = AugmentationChain([(gain, 1.0, True)])
    assert np.allclose(kept(x, np.random.default_rng(0)), x, atol=1e-6)  # RMS restored
    parallel = AugmentationChain([(gain, 1.0, False)], parallel=True)
    assert np.allclose(parallel(x, np.random.default_rng(0)), x * (1 + 10 ** (12 / 20)), atol=1e-5)
    half = AugmentationChain([(gain, 0.5, False)])
    applied = [not np.array_equal(half(x, np.random.default_rng(s)), x) for s in range(200)]
    assert 70 < sum(applied) < 130


def test_draw_apply_determinism(tmp_path):
    spec = {"effects": [{"effect": name, "probability": 0.7} for name in EFFECTS], "shuffle": True}
    chain = build_augmentation(spec, write_irs(tmp_path / "irs"))
    x = noise(SR // 4)
    first, second = chain.draw(np.random.default_rng(5)), chain.draw(np.random.default_rng(5))
    assert first == second
    assert np.array_equal(chain.apply(x, first), chain.apply(x, second))
    assert np.array_equal(chain(x, np.random.default_rng(5)), chain.apply(x, first))
    other = chain.draw(np.random.default_rng(6))
    assert other != first and not np.array_equal(chain.apply(x, other), chain.apply(x, first))
    assert np.array_equal(x, noise(SR // 4))  # never in place


def test_augment_does_not_import_torch():
    code = "import sys, automix.data.augment, automix.data.sampling; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
