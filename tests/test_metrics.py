"""Known answers of the evaluation metrics (spec §6) on generated stereo signals."""
import numpy as np
import pytest
import scipy.signal

from automix.evaluation import metrics as M
from automix.evaluation.silence import active_bounds, trim_silence
from automix.fxnorm.stft import stft

SR = 44100


def _stereo(seconds=4.0, seed=0):
    """Amplitude-modulated noise with a partly decorrelated stereo image, peak ~0.5."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 1.5 * np.arange(n) / SR)
    common, left, right = rng.standard_normal((3, n))
    x = np.stack([common + 0.4 * left, common + 0.4 * right], axis=1) * envelope[:, None]
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def reference():
    return _stereo()


def test_identical_signals_give_zero_error(reference):
    values, notes = M.all_metrics(reference, reference.copy())
    assert notes == []
    errors = {k: v for k, v in values.items() if not k.startswith("lufs_")}
    assert len(errors) > 30
    assert all(v == pytest.approx(0.0, abs=1e-9) for v in errors.values()), errors


def test_gain_changes_loudness_by_exactly_that_much(reference):
    gain_db = 3.0
    louder = reference * np.float32(10 ** (gain_db / 20))
    values, _ = M.all_metrics(reference, louder)
    assert values["lufs_abs_lu"] == pytest.approx(3.0, abs=0.01)
    assert values["peak_abs_db"] == pytest.approx(3.0, abs=1e-3)
    assert values["d_lufs"] == pytest.approx(3.0 / abs(values["lufs_reference"]), rel=1e-3)
    # spectral, panning and dynamics families peak-normalize first: a gain changes none of them
    for key in ("spectral_mape_mean", "panning_mape_mean", "dynamics_mape_mean"):
        assert values[key] == pytest.approx(0.0, abs=1e-6), key
    for key in ("centroid_abs_hz", "rms_abs_db", "pan_t_abs"):  # float32 STFT rounding only
        assert values[key] == pytest.approx(0.0, abs=1e-3), key


def test_left_panned_copy_raises_panning_error_not_spectral(reference):
    panned = reference * np.array([1.0, 0.25], dtype=np.float32)
    values, _ = M.all_metrics(reference, panned)
    assert values["P_t_mean"] > 0.5 and values["pan_t_abs"] > 0.1
    assert values["spectral_mape_mean"] < 1e-3
    assert values["centroid_abs_hz"] < 1.0


def test_low_passed_copy_raises_spectral_errors(reference):
    sos = scipy.signal.butter(4, 2000, fs=SR, output="sos")
    dull = scipy.signal.sosfilt(sos, reference, axis=0).astype(np.float32)
    values, _ = M.all_metrics(reference, dull)
    assert values["centroid_abs_hz"] > 1000
    assert values["rolloff_abs_hz"] > 2000
    assert values["spectral_mape_mean"] > 0.2
    # the low-frequency ratio of a low-passed copy is larger
    assert values["l_ratio_abs"] > 1.0


def test_compressed_copy_raises_dynamics_error(reference):
    squashed = np.tanh(8 * reference).astype(np.float32)
    values, _ = M.all_metrics(reference, squashed)
    assert values["crest_abs"] > 0.05
    assert values["dynamics_mape_mean"] > 0.01


def test_short_and_silent_references_give_notes_not_nan(reference):
    short = reference[: SR // 2]
    values, notes = M.all_metrics(short, short * 0.5)
    assert {note.split(":")[0] for note in notes} >= {"spectral", "panning", "dynamics"}
    assert all(np.isfinite(v) for v in values.values())
    silent = np.zeros_like(reference)
    values, notes = M.all_metrics(silent, reference)
    assert any(note.startswith("loudness") for note in notes)
    assert all(np.isfinite(v) for v in values.values() if not isinstance(v, str))


def test_mono_reference_has_no_panning_metric(reference):
    mono = np.repeat(reference[:, :1], 2, axis=1)
    values, notes = M.all_metrics(mono, reference)
    assert "P_t_mean" not in values
    assert any(note.startswith("panning") for note in notes)


def test_mape_matches_its_definition():
    assert M.mape([2.0, -4.0], [1.0, -5.0]) == pytest.approx((0.5 + 0.25) / 2)


def test_mrstft_equals_auraloss(reference):
    auraloss = pytest.importorskip("auraloss", reason="auraloss (pinned in requirements.txt) not installed")
    import torch

    estimate = (0.7 * reference + 0.01 * np.random.default_rng(1).standard_normal(reference.shape)).astype(np.float32)
    expected = auraloss.freq.MultiResolutionSTFTLoss()(torch.from_numpy(estimate.T[None].copy()),
                                                       torch.from_numpy(reference.T[None].copy())).item()
    assert M.mrstft_distance(reference, estimate) == pytest.approx(expected, rel=1e-5)


def test_trim_silence_keeps_alignment_and_never_empties(reference):
    pad = np.zeros((SR, 2), dtype=np.float32)
    padded = np.concatenate([pad, reference, pad[: SR // 2]])
    start, stop = active_bounds(padded, SR)
    assert abs(start - SR) < SR * 0.03
    assert abs(stop - (SR + len(reference))) < SR * 0.03
    estimate = padded * 0.5
    ref_trimmed, est_trimmed = trim_silence(padded, estimate, SR)
    np.testing.assert_array_equal(est_trimmed, ref_trimmed * 0.5)
    # nothing above the threshold: nothing is trimmed (the release's [:-0] emptied the signal)
    quiet = np.full((SR, 2), 1e-4, dtype=np.float32)
    assert active_bounds(quiet, SR) == (0, SR)
    assert len(trim_silence(quiet, quiet, SR)[0]) == SR


def test_spectral_shape_equals_librosa(reference):
    import librosa

    from automix.fxnorm.stft import stft

    magnitude = np.ascontiguousarray(np.abs(stft(reference, 4096, 1024)).transpose(1, 2, 0))
    magnitude[:, :, 3] = 0.0  # a silent frame
    frequencies = (np.arange(magnitude.shape[1]) * SR / 4096).astype(np.float32)
    ours = M._spectral_shape(magnitude, frequencies)
    S = magnitude.astype(np.float64)
    kw = {"S": S, "sr": SR, "n_fft": 4096}
    expected = {"centroid": librosa.feature.spectral_centroid(**kw)[:, 0],
                "bandwidth": librosa.feature.spectral_bandwidth(**kw, p=2, norm=True)[:, 0],
                "rolloff": librosa.feature.spectral_rolloff(**kw, roll_percent=0.85)[:, 0],
                "flatness": librosa.feature.spectral_flatness(S=S, amin=1e-10, power=2.0)[:, 0]}
    for name, values in expected.items():
        np.testing.assert_allclose(ours[name], values, rtol=2e-4, atol=1e-3, err_msg=name)
    contrast = librosa.feature.spectral_contrast(**kw, fmin=250.0, n_bands=4, quantile=0.02)
    np.testing.assert_allclose(M._spectral_contrast(magnitude, frequencies), contrast, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- fast paths equal the definitions
@pytest.mark.parametrize("kernel", ["scaled_sosfiltfilt", "scaled_sosfiltfilt_stereo_two_sections"])
def test_low_pass_kernel_equals_scipy_sosfiltfilt(reference, kernel):
    from automix.evaluation import kernels

    sos = scipy.signal.butter(4, 1000.0, btype="low", fs=SR, output="sos")
    gain = 10.0 ** (-1 / 20) / float(np.abs(reference).max())
    out = np.empty(reference.shape, dtype=np.float32)
    getattr(kernels, kernel)(reference, gain, sos, scipy.signal.sosfilt_zi(sos), 15, out)
    expected = scipy.signal.sosfiltfilt(sos, np.asarray(reference, np.float64) * gain, axis=0).astype(np.float32)
    np.testing.assert_array_equal(out, expected)


def test_rolloff_kernel_equals_cumsum_argmax():
    from automix.evaluation.kernels import rolloff_bins

    magnitude = np.abs(np.random.default_rng(3).standard_normal((50, 2049))).astype(np.float32) ** 4
    magnitude[3] = 0.0
    magnitude[4, 7] = np.nan
    cumulative = np.cumsum(magnitude, axis=-1, dtype=np.float32)
    expected = np.argmax(cumulative >= np.float32(0.85) * cumulative[:, -1:], axis=-1)
    out = np.empty(50, dtype=np.int64)
    rolloff_bins(magnitude, np.float32(0.85), out)
    np.testing.assert_array_equal(out, expected)


def _direct_dynamics(x):
    """The dynamics series of the peak-normalized signal by their definitions, unblocked (float64)."""
    x = M.peak_normalize(x)
    frames = np.lib.stride_tricks.sliding_window_view(x, 4096, axis=0)[::1024]  # (frames, 2, 4096)
    r = 20 * np.log10(np.maximum(np.sqrt(np.sum(frames ** 2, axis=-1) / 4096), 1e-10)).T
    spread = np.mean(20 * np.log10(np.maximum(np.abs(frames), 1e-10)), axis=-1).T - r
    crest = (20 * np.log10(np.maximum(np.abs(frames).max(axis=-1), 1e-10))).T / np.minimum(r, -1e-6)
    sos = scipy.signal.butter(4, 1000.0, btype="low", fs=SR, output="sos")
    low = scipy.signal.sosfiltfilt(sos, x, axis=0).astype(np.float32)
    low_mag = np.abs(stft(low, 4096, 1024)).astype(np.float64)  # (frames, 2, bins)
    mag = np.abs(stft(x.astype(np.float32), 4096, 1024)).astype(np.float64)
    ratio = (low_mag / (mag + 1e-5)).sum(axis=-1).mean(axis=1)
    return {"rms_db": r, "spread_db": spread, "crest": crest, "l_ratio": ratio[None]}


def test_blocked_dynamics_and_panning_equal_their_definitions(reference):
    x = reference[:SR * 3 + 777]  # 126 frames: two blocks, the second one short
    series = M.dynamics_series(M.Analysis(x))
    for name, values in _direct_dynamics(x).items():
        np.testing.assert_allclose(series[name], values, rtol=1e-12 if name != "l_ratio" else 1e-6, err_msg=name)
    sps = M.panning_spectrum(M.peak_normalize(x)).astype(np.float64)
    expected = [np.sqrt(np.mean(sps[:, lo:hi] ** 2, axis=1)) for lo, hi in ((0, 1024), (0, 11), (11, 116), (116, 1024))]
    np.testing.assert_allclose(M.panning_band_rms(M.peak_normalize(x)), np.array(expected), rtol=1e-12)


def test_threads_do_not_change_the_metrics(reference, monkeypatch):
    estimate = (0.7 * reference + 0.01 * np.random.default_rng(2).standard_normal(reference.shape)).astype(np.float32)
    parallel, _ = M.all_metrics(reference, estimate)
    monkeypatch.setattr(M, "_threads", lambda: 1)
    serial, _ = M.all_metrics(reference, estimate)
    assert serial.keys() == parallel.keys()
    for key, value in serial.items():
        assert parallel[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key


def test_a_reference_analysed_once_gives_the_same_metrics_for_every_estimate(reference):
    estimates = [reference * np.float32(0.7), np.ascontiguousarray(reference[:, ::-1])]
    analysis = M.Analysis(reference)
    for estimate in estimates:
        shared, _ = M.all_metrics(reference, estimate, reference_analysis=analysis)
        fresh, _ = M.all_metrics(reference, estimate)
        assert shared == fresh
    assert {key[0] for key in analysis.series} == {"lufs", "peak", "spectral", "spectral and ratio", "panning",
                                                   "dynamics"}
    with pytest.raises(ValueError, match="Analysis of the reference"):
        M.all_metrics(reference, estimates[0], reference_analysis=M.Analysis(reference.copy()))
