"""Known answers of the evaluation metrics (spec §6) on generated stereo signals."""
import numpy as np
import pytest
import scipy.signal

from automix.evaluation import metrics as M
from automix.evaluation.silence import active_bounds, trim_silence

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
