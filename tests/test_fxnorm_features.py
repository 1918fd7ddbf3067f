"""Features file: safe .npz format, legacy pickle import (bit-exact), release re-smoothing, plot CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.signal

from automix import features_cli
from automix.fxnorm.features import (FEATURE_EFFECTS, FEATURE_STEMS, average_feature, import_legacy_features,
                                     load_features, save_features)


def _features(seed=0):
    rng = np.random.default_rng(seed)
    return {"eq": {s: rng.random(32769).astype(np.float32) for s in FEATURE_STEMS},
            "compression": {s: np.array([-14.0, 1.2]) + rng.random(2) for s in FEATURE_STEMS},
            "panning": {s: (0.8 + 0.1 * rng.random(32769)).astype(np.float32) for s in FEATURE_STEMS},
            "loudness": {s: np.array([-30.0 - rng.random()]) for s in FEATURE_STEMS}}


def test_save_load_round_trip_is_exact(tmp_path):
    features = _features()
    save_features(tmp_path / "f.npz", features, {"mode": "fixed", "n_files": {"eq": {"vocals": 3}}})
    loaded, metadata = load_features(tmp_path / "f.npz")
    for effect in FEATURE_EFFECTS:
        for stem in FEATURE_STEMS:
            assert loaded[effect][stem].dtype == features[effect][stem].dtype
            assert np.array_equal(loaded[effect][stem], features[effect][stem])
    assert metadata["mode"] == "fixed" and metadata["sample_rate"] == 44100 and metadata["fft_size"] == 65536
    assert metadata["n_files"] == {"eq": {"vocals": 3}} and "package_version" in metadata
    with np.load(tmp_path / "f.npz", allow_pickle=False) as data:  # nothing pickled inside
        assert json.loads(str(data["__metadata__"]))["format_version"] == 1


def test_release_mode_smooths_eq_and_panning_again(tmp_path):
    features = _features()
    save_features(tmp_path / "f.npz", features)
    release, _ = load_features(tmp_path / "f.npz", mode="release")
    expected = scipy.signal.savgol_filter(features["eq"]["bass"], 151, 1, mode="mirror")
    np.testing.assert_allclose(release["eq"]["bass"], expected, rtol=1e-6)
    expected = scipy.signal.savgol_filter(features["panning"]["vocals"], 501, 1, mode="mirror")
    np.testing.assert_allclose(release["panning"]["vocals"], expected, rtol=1e-6)
    assert np.array_equal(release["loudness"]["drums"], features["loudness"]["drums"])


def test_average_feature_smooths_and_refuses_empty():
    values = [np.full(32769, 2.0, np.float32), np.full(32769, 4.0, np.float32)]
    assert np.allclose(average_feature("eq", "vocals", values), 3.0)
    assert np.allclose(average_feature("compression", "vocals", [np.array([-10.0, 1.0]), np.array([-12.0, 3.0])]),
                       [-11.0, 2.0])
    with pytest.raises(ValueError, match="no usable 'drums' file"):
        average_feature("loudness", "drums", [])


def test_incomplete_file_is_rejected(tmp_path):
    features = _features()
    del features["panning"]["other"]
    with pytest.raises(ValueError, match="panning/other"):
        save_features(tmp_path / "f.npz", features)


def test_legacy_pickle_is_refused_by_load_and_imported_bit_exactly(reference_dir, tmp_path):
    legacy = reference_dir / "features_MUSDB18.npy"
    with pytest.raises(ValueError, match="automix features import"):
        load_features(legacy)
    with pytest.warns(UserWarning, match="executes code"):
        assert features_cli.main(["import", str(legacy), str(tmp_path / "m.npz")]) == 0
    original = np.load(legacy, allow_pickle=True)[()]
    imported, metadata = load_features(tmp_path / "m.npz")
    for effect in FEATURE_EFFECTS:
        for stem in FEATURE_STEMS:
            assert imported[effect][stem].dtype == original[effect][stem].dtype
            assert np.array_equal(imported[effect][stem], original[effect][stem])
    assert imported["compression"]["vocals"][0] == pytest.approx(-14.2409, abs=1e-4)
    assert metadata["mode"] == "release"
    with pytest.warns(UserWarning, match="executes code"):
        import_legacy_features(legacy, tmp_path / "again.npz")


def test_plot_cli_writes_a_figure(tmp_path):
    save_features(tmp_path / "f.npz", _features(), {"mode": "fixed"})
    out = tmp_path / "fig.png"
    assert features_cli.main(["plot", str(tmp_path / "f.npz"), "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20000


def test_importing_fxnorm_does_not_import_torch():
    modules = ["automix.fxnorm", "automix.fxnorm.loudness", "automix.fxnorm.eq", "automix.fxnorm.panning",
               "automix.fxnorm.reverb", "automix.fxnorm.stft", "automix.fxnorm.features",
               "automix.fxnorm.normalize", "automix.fxnorm.pipeline", "automix.fxnorm.dynamics",
               "automix.data_normalization", "automix.features_cli"]
    code = f"import importlib, sys; [importlib.import_module(m) for m in {modules}]; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
