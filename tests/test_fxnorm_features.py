"""Features file: safe .npz format, provenance checks, legacy pickle import (bit-exact), release re-smoothing, plot
and check CLIs."""

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.signal

import soundfile as sf

from automix import data_normalization, features_cli
from automix.fxnorm.features import (FEATURE_EFFECTS, FEATURE_STEMS, FeaturesMismatchError, average_feature,
                                     import_legacy_features, load_features, read_features_file, save_features)


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
    save_features(tmp_path / "f.npz", features, {"mode": "release"})
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
        save_features(tmp_path / "f.npz", features, {"mode": "fixed"})
    with pytest.raises(ValueError, match="must name the mode"):  # no file without its provenance
        save_features(tmp_path / "f.npz", _features(), {})


def test_legacy_pickle_is_refused_by_load_and_imported_bit_exactly(reference_dir, tmp_path, capsys):
    legacy = reference_dir / "features_MUSDB18.npy"
    with pytest.raises(ValueError, match="automix features import"):
        load_features(legacy)
    with pytest.warns(UserWarning, match="executes code"):
        assert features_cli.main(["import", str(legacy), str(tmp_path / "m.npz")]) == 0
    original = np.load(legacy, allow_pickle=True)[()]
    imported, metadata = read_features_file(tmp_path / "m.npz")  # as stored
    for effect in FEATURE_EFFECTS:
        for stem in FEATURE_STEMS:
            assert imported[effect][stem].dtype == original[effect][stem].dtype
            assert np.array_equal(imported[effect][stem], original[effect][stem])
    assert imported["compression"]["vocals"][0] == pytest.approx(-14.2409, abs=1e-4)
    assert metadata["mode"] == "release" and metadata["imported"]
    load_features(tmp_path / "m.npz", mode="release")  # what the official features are for
    with pytest.raises(FeaturesMismatchError, match="mode 'release' in the file, 'fixed' asked"):
        load_features(tmp_path / "m.npz", mode="fixed")
    with pytest.warns(UserWarning, match="executes code"):
        import_legacy_features(legacy, tmp_path / "again.npz")
    # an existing file is replaced only when asked (refused before the pickle is read: no warning, file unchanged)
    (tmp_path / "m.npz").write_bytes(b"user data")
    capsys.readouterr()
    assert features_cli.main(["import", str(legacy), str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "m.npz" in err[0] and "--overwrite" in err[0], err
    assert (tmp_path / "m.npz").read_bytes() == b"user data"
    with pytest.warns(UserWarning, match="executes code"):
        assert features_cli.main(["import", str(legacy), str(tmp_path / "m.npz"), "--overwrite"]) == 0
    assert read_features_file(tmp_path / "m.npz")[1]["imported"]


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


def _rewrite_metadata(path, **changes):
    """Edit a features file's metadata in place (a file from another version or setting); None deletes a key."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    metadata = json.loads(str(arrays["__metadata__"]))
    metadata.update(changes)
    arrays["__metadata__"] = np.array(json.dumps({k: v for k, v in metadata.items() if v is not None}))
    np.savez(path, **arrays)


def test_load_checks_provenance_and_names_file_and_both_values(tmp_path, caplog):
    path = tmp_path / "f.npz"
    save_features(path, _features(), {"mode": "fixed"})
    with pytest.raises(FeaturesMismatchError) as err:
        load_features(path, mode="release")
    assert str(path) in str(err.value) and "mode 'fixed' in the file, 'release' asked" in str(err.value)
    assert "allow_mismatch=True" in str(err.value) and "--allow-features-mismatch" in str(err.value)
    with pytest.raises(FeaturesMismatchError, match="sample_rate 44100 in the file, 48000 asked"):
        load_features(path, sample_rate=48000)
    with pytest.raises(FeaturesMismatchError, match="fft_size 65536 in the file, 4096 asked"):
        load_features(path, fft_size=4096)
    _rewrite_metadata(path, format_version=2, sample_rate=None)
    with pytest.raises(FeaturesMismatchError, match="sample_rate 'missing' in the file, 44100 asked; format_version 2"):
        load_features(path)
    features, _ = load_features(path, mode="release", allow_mismatch=True)  # the expert override, logged
    assert "used anyway" in caplog.text and features["eq"]["bass"].shape == (32769,)


def test_normalize_cli_refuses_a_mismatching_features_file_in_one_line(tmp_path, capsys):
    save_features(tmp_path / "f.npz", _features(), {"mode": "fixed"})
    (tmp_path / "empty").mkdir()
    args = ["--input-folder", str(tmp_path / "empty"), "--output-suffix", "n", "--features-load",
            str(tmp_path / "f.npz"), "--mode", "release", "--no-normalize", "--quiet"]
    assert data_normalization.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mode 'fixed' in the file, 'release' asked" in err and "f.npz" in err
    assert data_normalization.main([*args, "--allow-features-mismatch"]) == 0


def _tiny_split(folder, names):
    """Song folders whose stems are only headers plus a few samples (the check reads no audio)."""
    for name in names:
        (folder / name).mkdir(parents=True)
        for stem in FEATURE_STEMS:
            sf.write(folder / name / f"{stem}.wav", np.zeros((64, 2)), 44100, subtype="PCM_16")


def test_check_cli_says_when_the_features_pass_must_be_redone(tmp_path, capsys):
    split, path = tmp_path / "train", tmp_path / "f.npz"
    _tiny_split(split, ["a", "b"])

    def check(*extra):
        code = features_cli.main(["check", str(path), "--input-folder", str(split), *extra])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    assert check() == (1, f"features out of date: {path} does not exist\n")
    save_features(path, _features(), {"mode": "fixed", "songs": ["a", "b"], "with_reverb": False})
    assert check("--workers", "4", "--seed", "1", "--overwrite")[0] == 0  # other normalization options ignored
    code, out = check("--mode", "release")
    assert code == 1 and "mode 'fixed' in the file, 'release' asked" in out
    _tiny_split(split, ["c"])
    code, out = check()
    assert code == 1 and "other songs" in out and "1 new, e.g. ['c']" in out
    # the official (imported) features are never recomputed: used in their mode, refused in another
    save_features(path, _features(), {"mode": "release", "imported": True})
    assert check("--mode", "release")[0] == 0
    code, out = check()
    assert code == 2 and "cannot be recomputed" in out
    assert check("--input-folder", str(tmp_path / "nowhere"))[0] == 2
