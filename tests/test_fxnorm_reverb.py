"""Reverb send: RBJ shelves, IR-peak alignment, seeded draws, IR loading errors, pre-reverb modes."""

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from automix.fxnorm.normalize import stem_rng
from automix.fxnorm.reverb import (ImpulseResponse, apply_pre_reverb, apply_reverb_send, convolve_aligned,
                                   find_impulse_responses, send_band_pass, shelf_coefficients)

SR = 44100


def _write_ir(folder, name, ir, rate=SR):
    path = folder / name / "impulse_response.wav"
    path.parent.mkdir(parents=True)
    sf.write(path, ir, rate, subtype="PCM_16")
    return path


def test_shelf_responses():
    for kind, inside, outside in (("low", 100.0, 5000.0), ("high", 18000.0, 500.0)):
        b, a = shelf_coefficients(kind, 1000.0 if kind == "low" else 8000.0, -30.0)
        _, h = scipy.signal.freqz(b, a, worN=[inside, outside], fs=SR)
        gains = 20 * np.log10(np.abs(h))
        assert gains[0] == pytest.approx(-30.0, abs=1.0) and abs(gains[1]) < 1.0


def test_send_band_pass_keeps_mid_removes_extremes():
    t = np.arange(SR) / SR
    for freq, expected_db in ((60.0, -30.0), (2500.0, 0.0), (19000.0, -30.0)):
        x = np.sin(2 * np.pi * freq * t)[:, None].astype(np.float32)
        y = send_band_pass(x, 600.0, 8500.0)
        assert 20 * np.log10(np.std(y[SR // 2:]) / np.std(x[SR // 2:])) == pytest.approx(expected_db, abs=2.5)


def test_convolution_is_aligned_to_ir_peak():
    x = np.random.default_rng(0).standard_normal((5000, 2)).astype(np.float32)
    ir = np.zeros((800, 1), np.float32)
    ir[300] = 1.0
    ir[500] = 0.5  # an echo 200 samples after the peak
    y = convolve_aligned(x, ir)
    expected = x.copy()
    expected[200:] += 0.5 * x[:-200]
    np.testing.assert_allclose(y, expected, atol=1e-5)


def test_reverb_send_is_seeded_and_reports_its_draws(tmp_path):
    ir = np.zeros((2000, 2), np.float32)
    ir[100] = 0.5
    _write_ir(tmp_path, "a", ir)
    _write_ir(tmp_path, "b", ir * 0.5)
    irs = find_impulse_responses(tmp_path)
    x = np.random.default_rng(1).standard_normal((SR, 2)).astype(np.float32) * 0.1
    y1, r1 = apply_reverb_send(x, irs, stem_rng(0, "song", "vocals"))
    y2, r2 = apply_reverb_send(x, irs, stem_rng(0, "song", "vocals"))
    assert r1 == r2 and np.array_equal(y1, y2)
    assert 500 <= r1["low_shelf_hz"] <= 700 and 7000 <= r1["high_shelf_hz"] <= 10000
    wet = y1 - x
    gain = 0.5 if r1["ir"] == "a" else 0.25
    np.testing.assert_allclose(wet, gain * send_band_pass(x, r1["low_shelf_hz"], r1["high_shelf_hz"]), atol=1e-4)
    draws = {tuple(apply_reverb_send(x, irs, stem_rng(seed, "song", "vocals"))[1].values()) for seed in range(6)}
    assert len(draws) == 6
    assert stem_rng(0, "song", "vocals").random() != stem_rng(0, "song", "other").random()


def test_ir_at_wrong_rate_is_a_clear_error(tmp_path):
    path = _write_ir(tmp_path, "bad", np.ones((100, 2), np.float32) * 0.1, rate=48000)
    with pytest.raises(ValueError, match="48000 Hz.*resample"):
        find_impulse_responses(tmp_path)
    with pytest.raises(ValueError, match=str(path)):
        find_impulse_responses(tmp_path)
    with pytest.raises(FileNotFoundError):
        find_impulse_responses(tmp_path / "missing")


def test_pre_reverb_modes(tmp_path):
    ir = np.zeros((1000, 2), np.float32)
    ir[0] = 1.0
    ir[400] = 0.5
    irs = [ImpulseResponse(_write_ir(tmp_path, "room", ir), "room")]
    x = np.random.default_rng(2).standard_normal((SR, 2)).astype(np.float32) * 0.1
    fixed, report = apply_pre_reverb(x, irs, np.random.default_rng(0), "fixed")
    echo = np.zeros_like(x)
    echo[400:] = x[:-400] * 0.5
    np.testing.assert_allclose(fixed, x + 0.5 * echo, atol=1e-4)  # 0.5 dry + 0.5 (x + echo)
    release, report = apply_pre_reverb(x, irs, np.random.default_rng(0), "release")
    assert report["eq_only"]
    np.testing.assert_allclose(release, send_band_pass(x, report["low_shelf_hz"], report["high_shelf_hz"]))


def test_real_irs_load(ir_dir):
    irs = find_impulse_responses(ir_dir / "reverb")
    assert sorted(ir.name for ir in irs) == ["hall", "plate"]
    assert irs[0].audio.shape[1] == 2 and irs[0].audio.dtype == np.float32
