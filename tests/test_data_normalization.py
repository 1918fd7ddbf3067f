"""`python -m automix.data_normalization` end to end: two-pass flow, reports, resume, bad songs, workers, shards,
failures at a later feature stage, error reporting and exit codes, spread."""

import json
import logging
import shutil

import numpy as np
import pytest
import soundfile as sf

from automix import data_normalization
from automix.dataset import discover_songs, load_stems
from automix.fxnorm.features import FEATURE_STEMS, load_features, save_features
from automix.fxnorm.normalize import effect_feature, pad

SR = 44100


def _write_song(folder, seed, seconds=3.0, rate=SR):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    folder.mkdir(parents=True)
    for index, stem in enumerate(FEATURE_STEMS):
        period = 0.25 + 0.1 * index
        hits = rng.standard_normal(t.size) * np.exp(-(t % period) * (10 + 10 * index)) * rng.uniform(0.1, 0.5)
        pan = rng.uniform(0.2, 0.8)
        sf.write(folder / f"{stem}.wav", np.stack([hits * (1 - pan), hits * pan], 1), rate, subtype="PCM_16")


def _write_irs(folder):
    """Two synthetic decaying-noise IRs (44.1 kHz, stereo) in the loader layout; returns the IR root."""
    rng = np.random.default_rng(7)
    for name, decay_s in (("short", 0.3), ("long", 1.0)):
        n = int(decay_s * 2 * SR)
        ir = rng.standard_normal((n, 2)) * np.exp(-np.arange(n) / (decay_s * SR / 6.9))[:, None] * 0.3
        ir[0] = 0.9  # direct sound (the peak the wet signal is aligned to)
        (folder / name).mkdir(parents=True)
        sf.write(folder / name / "impulse_response.wav", ir, SR, subtype="PCM_16")
    return folder


def _run(*args):
    return data_normalization.main([*map(str, args), "--quiet"])


def _outputs(split, suffix):
    return {p.relative_to(split): p.read_bytes() for p in sorted(split.glob(f"*/*_{suffix}.wav"))}


def test_features_only_pass_writes_only_the_features_file(tmp_path):
    for seed in range(2):
        _write_song(tmp_path / "data" / f"song{seed}", seed)
    assert _run("--input-folder", tmp_path / "data", "--output-suffix", "norm", "--features-save",
                tmp_path / "f.npz", "--no-normalize", "--workers", "1") == 0
    features, metadata = load_features(tmp_path / "f.npz")
    assert metadata["n_files"]["eq"] == {s: 2 for s in FEATURE_STEMS} and metadata["mode"] == "fixed"
    assert metadata["songs"] == ["song0", "song1"] and metadata["passes"] == 1
    assert not list((tmp_path / "data").glob("*/*_norm.wav"))


def test_bad_songs_are_reported_and_the_others_continue(tmp_path, capsys):
    data = tmp_path / "data"
    _write_song(data / "good", 0)
    _write_song(data / "corrupt", 1)
    (data / "corrupt" / "bass.wav").write_bytes(b"RIFF0000WAVEnot audio")
    _write_song(data / "wrong_rate", 2, rate=48000)
    _write_song(data / "missing_stem", 3)
    (data / "missing_stem" / "other.wav").unlink()
    code = _run("--input-folder", data, "--output-suffix", "norm", "--features-save", tmp_path / "f.npz",
                "--workers", "1")
    out = capsys.readouterr().out
    assert code == 1
    assert "songs done: 1" in out and "failed: 3" in out
    assert "FAILED wrong_rate: sample rate 48000 Hz" in out and "FAILED missing_stem: missing stem 'other'" in out
    assert "FAILED corrupt:" in out and "bass.wav" in out
    assert len(list((data / "good").glob("*_norm.wav"))) == 4


def test_same_seed_same_bytes_for_any_worker_count(tmp_path):
    ir_dir = _write_irs(tmp_path / "irs")
    data = tmp_path / "data"
    for seed in range(2):
        _write_song(data / f"song{seed}", seed, seconds=2.0)
    assert _run("--input-folder", data, "--output-suffix", "w1", "--features-save", tmp_path / "f.npz",
                "--impulse-responses", ir_dir, "--workers", "1") == 0
    assert _run("--input-folder", data, "--output-suffix", "w2", "--features-load", tmp_path / "f.npz",
                "--impulse-responses", ir_dir, "--workers", "2") == 0  # spawn-started pool
    one, two = _outputs(data, "w1"), _outputs(data, "w2")
    assert len(one) == 8 and list(one.values()) == list(two.values())


def _spread(split, suffix, effect):
    """Mean over stems of the across-song std of a feature summary (EQ: 1/3-octave dB levels 100 Hz-16 kHz)."""
    freqs = np.linspace(0, SR / 2, 32769)
    edges = 100 * 2 ** (np.arange(0, np.log2(160) * 3 + 1) / 3)
    per_stem = []
    for stem in FEATURE_STEMS:
        values = []
        for song in discover_songs(split, suffix=suffix):
            v = effect_feature(effect, pad(load_stems(song)[stem]))
            if effect == "eq":
                v = [20 * np.log10(v[(freqs >= lo) & (freqs < hi)].mean()) for lo, hi in zip(edges[:-1], edges[1:])]
            elif effect == "panning":
                v = [v[(freqs >= 50) & (freqs < 16000)].mean()]
            values.append(np.atleast_1d(v)[: None if effect == "eq" else 1])
        per_stem.append(np.mean(np.std(np.array(values), axis=0)))
    return float(np.mean(per_stem))


def test_two_pass_flow_on_demo_dataset_shrinks_feature_spread(demo_dataset, tmp_path, capsys):
    ir_dir = _write_irs(tmp_path / "irs")
    split = tmp_path / "train"
    shutil.copytree(demo_dataset / "wet" / "train", split)
    features = tmp_path / "features.npz"
    assert _run("--input-folder", split, "--output-suffix", "normalized", "--features-save", features,
                "--no-normalize", "--workers", "1") == 0
    assert _run("--input-folder", split, "--output-suffix", "normalized", "--features-load", features,
                "--impulse-responses", ir_dir, "--workers", "1") == 0
    songs = discover_songs(split, suffix="normalized")
    assert len(songs) == 3
    report = json.loads((songs[0].path / "normalization_normalized.json").read_text())
    vocals = report["stems"]["vocals"]
    assert vocals["reverb"]["ir"] in ("short", "long")
    assert vocals["eq"]["gain_min_db"] <= vocals["eq"]["gain_max_db"]
    assert {"ratio", "threshold_db", "action"} <= set(vocals["compression"]["channels"][0])
    assert {"similarity_before", "similarity_after"} <= set(vocals["panning"])
    assert vocals["loudness"]["lufs_after"] == pytest.approx(load_features(features)[0]["loudness"]["vocals"][0],
                                                             abs=0.5)
    # Measured factors on the demo data (3 songs, fixed mode, these IRs): EQ 2.2x, compression 1.6x, panning 2.9x,
    # loudness 150x. The compression spread only shrinks from above (the release's expander is off).
    factors = {e: _spread(split, None, e) / _spread(split, "normalized", e)
               for e in ("eq", "compression", "panning", "loudness")}
    with capsys.disabled():  # visible with `pytest -s`: the factors the README states
        print("\nfeature spread shrink factors:", {e: round(f, 1) for e, f in factors.items()})
    assert factors["eq"] > 1.5 and factors["panning"] > 1.5 and factors["loudness"] > 10
    assert factors["compression"] > 1.0
    # rerun: everything already done is skipped; --overwrite redoes it with the same bytes
    before = _outputs(split, "normalized")
    capsys.readouterr()
    assert _run("--input-folder", split, "--output-suffix", "normalized", "--features-load", features,
                "--impulse-responses", ir_dir, "--workers", "1") == 0
    assert "songs done: 0, skipped (already done): 3" in capsys.readouterr().out
    (songs[1].path / "normalization_normalized.json").unlink()  # as if killed before the report was written
    assert _run("--input-folder", split, "--output-suffix", "normalized", "--features-load", features,
                "--impulse-responses", ir_dir, "--workers", "1") == 0
    assert "songs done: 1, skipped (already done): 2" in capsys.readouterr().out
    assert _outputs(split, "normalized") == before


def test_feature_cache_gives_the_same_features_as_recomputing(tmp_path):
    from automix.fxnorm import compute_features, find_impulse_responses

    for seed in range(2):
        _write_song(tmp_path / "data" / f"song{seed}", seed, seconds=2.0)
    songs = discover_songs(tmp_path / "data")
    irs = find_impulse_responses(_write_irs(tmp_path / "irs"))
    for mode in ("fixed", "release"):
        recomputed, meta_a = compute_features(songs, mode=mode, seed=0, irs=irs, progress=False, cache_mb=0)
        cached, meta_b = compute_features(songs, mode=mode, seed=0, irs=irs, progress=False)
        assert not meta_a["feature_cache"] and meta_b["feature_cache"]
        for effect in recomputed:
            for stem in FEATURE_STEMS:
                assert np.array_equal(recomputed[effect][stem], cached[effect][stem]), (mode, effect, stem)


def test_pool_features_pass_equals_recomputing_and_cleans_up(tmp_path, monkeypatch):
    """With worker processes the processed stems go between stages as temporary .npy files, with the analyses the
    next stage's matching reuses: same features as recomputing every chain in process, and no file left behind."""
    import tempfile

    from automix.fxnorm import compute_features, make_executor

    for seed in range(2):
        _write_song(tmp_path / "data" / f"song{seed}", seed, seconds=2.0)
    songs = discover_songs(tmp_path / "data")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    recomputed, _ = compute_features(songs, mode="fixed", progress=False, cache_mb=0)
    with make_executor(2) as executor:
        pooled, metadata = compute_features(songs, executor, mode="fixed", progress=False)
    assert metadata["feature_cache"] and list(scratch.iterdir()) == []
    for effect in recomputed:
        for stem in FEATURE_STEMS:
            assert np.array_equal(recomputed[effect][stem], pooled[effect][stem]), (effect, stem)


def _flat_features():
    """Valid features without a features pass: flat EQ, 0.9 similarity, MUSDB-like compression and loudness."""
    flat = np.ones(32769, np.float32)
    return {"eq": {s: flat for s in FEATURE_STEMS}, "panning": {s: 0.9 * flat for s in FEATURE_STEMS},
            "compression": {s: np.array([-14.0, 1.3]) for s in FEATURE_STEMS},
            "loudness": {s: np.array([-28.0]) for s in FEATURE_STEMS}}


def _reverb_draws(split, suffix):
    reports = sorted(split.glob(f"*/normalization_{suffix}.json"))
    return {p.parent.name: {stem: {k: v for k, v in entry["reverb"].items() if k != "seconds"}
                            for stem, entry in json.loads(p.read_text())["stems"].items()} for p in reports}


def test_shards_fill_the_folders_with_the_bytes_of_one_run(tmp_path, capsys):
    ir_dir = _write_irs(tmp_path / "irs")
    data, features = tmp_path / "data", tmp_path / "f.npz"
    for seed in range(3):
        _write_song(data / f"song{seed}", seed, seconds=0.5)
    save_features(features, _flat_features(), {"mode": "fixed"})  # the test compares runs, not targets
    common = ("--input-folder", data, "--features-load", features, "--impulse-responses", ir_dir, "--workers", "1",
              "--seed", "5")
    assert _run(*common, "--output-suffix", "one") == 0
    assert _run(*common, "--output-suffix", "sh", "--shard", "2/2") == 0  # 1-based K: sorted song i -> i % N + 1
    assert "shard 2/2: 1 songs" in capsys.readouterr().out and list(_reverb_draws(data, "sh")) == ["song1"]
    assert _run(*common, "--output-suffix", "sh", "--shard", "1/2") == 0
    one, sharded = _outputs(data, "one"), _outputs(data, "sh")
    assert len(one) == 12 and list(one.values()) == list(sharded.values())
    draws = _reverb_draws(data, "one")
    assert draws == _reverb_draws(data, "sh")
    assert len({d[stem]["low_shelf_hz"] for d in draws.values() for stem in ("vocals", "other")}) == 6


@pytest.mark.parametrize("shard", ["0/2", "3/2", "1/0", "a/2", "2", "-1/2"])
def test_bad_shard_is_exit_2(tmp_path, shard, capsys):
    with pytest.raises(SystemExit) as err:
        data_normalization.main(["--input-folder", str(tmp_path), "--output-suffix", "n", "--features-load",
                                 str(tmp_path / "f.npz"), "--shard", shard])
    assert err.value.code == 2 and "--shard" in capsys.readouterr().err


def test_shard_of_the_features_pass_is_exit_2(tmp_path, capsys):
    assert _run("--input-folder", tmp_path, "--output-suffix", "n", "--features-save", tmp_path / "f.npz",
                "--shard", "1/2") == 2
    assert "normalization pass only" in capsys.readouterr().err


def test_song_failing_at_a_later_feature_stage_is_in_no_average(tmp_path, caplog):
    """Release mode crashes on a stem without onsets when *compressing* it, i.e. in the panning stage of the features
    pass, after the song's EQ spectra were averaged: the features are those of the dataset without that song."""
    from automix.fxnorm import compute_features

    data = tmp_path / "data"
    _write_song(data / "good", 0, seconds=1.0)
    _write_song(data / "clicky", 1, seconds=1.0)
    clicks = np.zeros((SR, 2), np.float32)
    clicks[::5000] = 0.3  # isolated clicks: no onset for aubio's HFC detector
    sf.write(data / "clicky" / "other.wav", clicks, SR, subtype="PCM_16")
    songs = discover_songs(data)
    features, metadata = compute_features(songs, mode="release", progress=False)
    assert list(metadata["failed_songs"]) == ["clicky"] and "no detected onset" in metadata["failed_songs"]["clicky"]
    assert metadata["passes"] == 2 and metadata["n_files"]["eq"] == {s: 1 for s in FEATURE_STEMS}
    assert "recomputing the features without them" in caplog.text
    alone, _ = compute_features([s for s in songs if s.name == "good"], mode="release", progress=False)
    for effect in features:
        for stem in FEATURE_STEMS:
            assert np.array_equal(features[effect][stem], alone[effect][stem]), (effect, stem)


def test_unexpected_errors_keep_their_traceback_and_input_errors_one_line(tmp_path, monkeypatch, caplog, capsys):
    from automix import fxnorm
    from automix.fxnorm import pipeline

    data = tmp_path / "data"
    _write_song(data / "good", 0, seconds=0.5)
    _write_song(data / "corrupt", 1, seconds=0.5)
    nan = np.zeros((SR // 2, 2), np.float32)
    nan[100] = np.nan  # the header is fine (the scan keeps the song), reading the samples fails in the worker
    sf.write(data / "corrupt" / "bass.wav", nan, SR, subtype="FLOAT")
    features = tmp_path / "f.npz"
    assert _run("--input-folder", data, "--output-suffix", "n", "--features-save", features, "--no-normalize",
                "--workers", "1") == 1  # the corrupt song failed, the features of the good one are saved
    corrupt = [r for r in caplog.records if "corrupt" in r.getMessage() and r.levelno >= logging.ERROR]
    assert corrupt and "NaN" in corrupt[0].getMessage()
    assert all(r.exc_info is None for r in corrupt)  # an input error: one line, no traceback
    real = pipeline.normalize_stem

    def crash_on_drums(x, stem, *args, **kwargs):  # a bug inside the DSP stack, in the worker
        if stem == "drums":
            return {}["no such key"]
        return real(x, stem, *args, **kwargs)

    monkeypatch.setattr(pipeline, "normalize_stem", crash_on_drums)
    caplog.clear()
    assert _run("--input-folder", data, "--output-suffix", "n", "--features-load", features, "--workers", "1") == 1
    assert "FAILED good: drums: KeyError: 'no such key'" in capsys.readouterr().out
    crash = [r for r in caplog.records if r.exc_info and "good" in r.getMessage()]
    assert crash and "crash_on_drums" in caplog.text and "Traceback" in caplog.text

    def crash(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(fxnorm, "normalize_dataset", crash)
    monkeypatch.setattr(data_normalization, "_discover", lambda folder: ([], {}))
    caplog.clear()
    assert _run("--input-folder", data, "--output-suffix", "n", "--features-load", features, "--workers", "1") == 1
    assert "unexpected error" in caplog.text and "RuntimeError: bug" in caplog.text  # a crash: 1, with traceback


def test_script_recomputes_features_made_from_other_songs(tmp_path):
    """The shell script asks `automix features check` whether pass 1 must be redone: a features file from other
    songs is recomputed, not silently reused (the check's other answers: test_fxnorm_features.py)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "data_normalization.sh"
    data, features, ir_dir = tmp_path / "data", tmp_path / "features.npz", _write_irs(tmp_path / "irs")
    _write_song(data / "train" / "train_song", 0, seconds=0.5)
    (data / "val").mkdir()  # an empty split: nothing to normalize there
    save_features(features, _flat_features(), {"mode": "fixed", "songs": ["another_song"]})
    result = subprocess.run(["bash", str(script), str(data), str(ir_dir), str(features)],
                            env={**os.environ, "AUTOMIX_PYTHON": sys.executable,
                                 "AUTOMIX_NORM_ARGS": "--workers 1 --quiet"},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "computed from other songs" in result.stdout and "pass 1/2: features from" in result.stdout
    assert load_features(features)[1]["songs"] == ["train_song"]
