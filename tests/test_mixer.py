"""automix.mixer.Mixer: the one path from stems to a mix (known answers against the library pieces it chains)."""

import numpy as np
import pytest
import torch

from automix.fxnorm.normalize import normalize_stem, stem_rng
from automix.mixer import Mixer, pick_checkpoint
from automix.mixing import mix
from automix.models import build_model
from mix_fixtures import STEMS, TINY_CONFIG, features, features_file, stem_audio, tiny_state_dict, write_results

SR = 44100


def _song(seconds=1.5, rate=SR, stems=STEMS):
    return {s: stem_audio(s, seconds, rate) for s in stems}


def _normalized(x, stem, feats, song="song", mode="fixed", seed=0):
    x = x - x.mean(axis=0, dtype=np.float64).astype(np.float32)  # the mixer removes DC first
    return normalize_stem(x, stem, feats, mode=mode, rng=stem_rng(seed, song, stem))[0]


def test_network_mix_equals_normalize_then_mix():
    stems = _song()
    result = Mixer(TINY_CONFIG, tiny_state_dict(), features(), workers=1).mix(stems, SR, name="song")
    model = build_model(TINY_CONFIG, seed=0).eval()
    x = np.concatenate([_normalized(stems[s], s, features()).T for s in STEMS])
    expected = mix(model, torch.from_numpy(x)).numpy().T
    assert result.audio.shape == (stems["vocals"].shape[0], 2) and result.audio.dtype == np.float32
    assert result.sample_rate == SR
    np.testing.assert_allclose(result.audio, expected, atol=1e-6)
    report = result.report
    assert report["model"]["kind"] == "network" and report["device"] == "cpu"
    assert report["real_time_factor"] > 0 and set(report["seconds"]) >= {"read", "normalize", "mix", "total"}
    for stem in STEMS:
        entry = report["stems"][stem]
        assert entry["status"] == "normalized"
        assert entry["eq_range_db"][0] <= entry["eq_range_db"][1]
        assert {"similarity_before", "similarity_after"} <= set(entry["pan"])
        assert np.isfinite(entry["gain_db"]) and entry["compression"] is not None


def test_progress_bars_for_the_stems_normalized_and_the_mixing_chunks_only_when_asked(capsys):
    stems = _song(seconds=2.0, stems=("vocals", "drums", "other"))
    mixer = Mixer(TINY_CONFIG, tiny_state_dict(), features(), workers=1, chunk_seconds=0.5)
    quiet = mixer.mix(stems, SR, name="song")
    assert capsys.readouterr().err == ""
    shown = mixer.mix(stems, SR, name="song", progress=True)
    err = capsys.readouterr().err
    assert "normalize" in err and "3/3" in err  # the given stems, counted as they finish
    chunks = -(-2 * SR // (round(0.5 * SR) // 64 * 64))  # chunks of 0.5 s rounded down to whole 64-sample frames
    for bar in ("front-end", "decoder"):
        assert bar in err and f"{chunks}/{chunks}" in err
    np.testing.assert_array_equal(shown.audio, quiet.audio)
    assert list(shown.report["stems"]) == list(quiet.report["stems"])


def test_a_song_normalized_once_is_mixed_by_every_mixer_with_the_same_settings():
    stems, feats = _song(), features()  # one features dict: in-memory features are told apart by identity
    network = Mixer(TINY_CONFIG, tiny_state_dict(), feats, workers=1)
    baseline = Mixer.baseline(feats, workers=1)
    song = baseline.normalize(stems, SR, name="song")
    assert song.settings == network.normalization_settings()
    shared = network.mix_normalized(song)
    alone = network.mix(stems, SR, name="song")
    np.testing.assert_array_equal(shared.audio, alone.audio)
    np.testing.assert_array_equal(baseline.mix_normalized(song).audio, baseline.mix(stems, SR, name="song").audio)
    def summary(report):  # what normalization did, without its timings
        return {stem: {k: v for k, v in entry.items() if k not in ("normalization_seconds", "normalization")}
                for stem, entry in report["stems"].items()}
    assert summary(shared.report) == summary(alone.report)
    assert shared.report["seconds"]["normalize"] == song.times["normalize"]
    reordered = dict(TINY_CONFIG, INPUTS=[f"{s}_normalized" for s in ("drums", "bass", "other", "vocals")])
    np.testing.assert_array_equal(Mixer(reordered, tiny_state_dict(), feats, workers=1).mix_normalized(song).audio,
                                  Mixer(reordered, tiny_state_dict(), feats, workers=1).mix(stems, SR,
                                                                                               name="song").audio)
    with pytest.raises(ValueError, match="other settings"):
        Mixer.baseline(feats, workers=1, seed=1).mix_normalized(song)


def test_baseline_is_the_sum_of_the_normalized_stems_and_missing_stems_are_silence():
    stems = _song(stems=("vocals", "drums"))
    result = Mixer.baseline(features(), workers=1).mix(stems, SR)
    expected = _normalized(stems["vocals"], "vocals", features()) + _normalized(stems["drums"], "drums", features())
    np.testing.assert_allclose(result.audio, expected, atol=1e-6)
    report = result.report
    assert report["model"]["kind"] == "baseline"
    assert report["stems"]["bass"]["status"] == "missing" and report["stems"]["other"]["status"] == "missing"
    assert any("missing stem(s) bass, other" in note for note in report["notes"])


def test_any_rate_lengths_channels_and_dc_offset():
    stems = {"vocals": stem_audio("vocals", 1.0, 48000, channels=1) + 0.2,  # mono with a DC offset
             "bass": stem_audio("bass", 1.5, 48000)}
    result = Mixer.baseline(features(), workers=1).mix(stems, 48000)
    assert result.sample_rate == 48000 and result.audio.shape == (72000, 2)
    vocals = result.report["stems"]["vocals"]
    assert any("DC offset removed (L +0.2" in n for n in vocals["notes"])
    assert any("end-padded with silence" in n for n in vocals["notes"])
    assert any("48000 Hz" in n for n in result.report["notes"])
    assert abs(float(result.audio.mean())) < 1e-3  # the offset is not in the mix
    # different rates per stem: mixed at 44.1 kHz, written at the highest, as long as the longest stem
    mixed = Mixer.baseline(features(), workers=1).mix(
        {"vocals": stem_audio("vocals", 1.0, 22050), "drums": stem_audio("drums", 0.5, 48000)},
        {"vocals": 22050, "drums": 48000})
    assert mixed.sample_rate == 48000 and mixed.audio.shape == (48000, 2)


def test_silent_all_zero_short_and_over_full_scale_stems_are_mixed_with_notes():
    stems = {"vocals": np.zeros((4410, 2), np.float32), "bass": stem_audio("bass", 0.1) * 1e-4,
             "drums": stem_audio("drums", 0.1) * 6.0, "other": (stem_audio("other", 0.1) * 32767).astype(np.int16)}
    result = Mixer(TINY_CONFIG, tiny_state_dict(), features(), workers=1).mix(stems, SR)
    entries = result.report["stems"]
    assert entries["vocals"]["status"] == "all_zero" and entries["bass"]["status"] == "silent"
    assert entries["drums"]["status"] == "normalized" and entries["other"]["status"] == "normalized"
    assert any("beyond full scale" in n for n in entries["drums"]["notes"])
    assert any("very short song" in n for n in result.report["notes"])
    assert result.audio.shape == (4410, 2) and np.all(np.isfinite(result.audio))


def test_release_warmup_prepends_each_stems_last_seconds_and_drops_them(monkeypatch):
    monkeypatch.setattr("automix.mixer.WARMUP_SECONDS", 2)  # the release's 30 s, shortened for the test
    stems = _song(1.0, stems=("vocals", "drums"))
    result = Mixer(TINY_CONFIG, tiny_state_dict(), features(), workers=1, release_warmup=True).mix(stems, SR)
    model = build_model(TINY_CONFIG, seed=0).eval()
    n, prefix = stems["vocals"].shape[0], 2 * SR  # longer than the stem: it wraps around more than once
    n_mix = (1 + (n + prefix) // 64) * 64
    x = np.zeros((8, n_mix), np.float32)
    for i, s in ((0, "vocals"), (2, "drums")):
        dc_free = stems[s] - stems[s].mean(axis=0, dtype=np.float64).astype(np.float32)
        wrapped = np.pad(dc_free, ((prefix, 0), (0, 0)), mode="wrap")
        x[2 * i:2 * i + 2, :n + prefix] = normalize_stem(wrapped, s, features(), rng=stem_rng(0, "song", s))[0].T
    expected = mix(model, torch.from_numpy(x)).numpy().T[prefix:prefix + n]
    np.testing.assert_allclose(result.audio, expected, atol=1e-6)
    assert any("warm-up" in note for note in result.report["notes"])


def test_worker_processes_give_the_same_mix_as_in_process(tmp_path):
    stems = _song(1.0, stems=("vocals", "bass"))
    inline = Mixer.baseline(features(), workers=1).mix(stems, SR)
    with Mixer.baseline(features(), workers=2) as mixer:  # one pool for both songs
        pooled = mixer.mix(stems, SR)
        again = mixer.mix(stems, SR)
    np.testing.assert_array_equal(inline.audio, pooled.audio)
    np.testing.assert_array_equal(pooled.audio, again.audio)


def test_checkpoint_rule_and_from_results(tmp_path):
    folder = write_results(tmp_path / "run", checkpoints=("current_model_for_mixture.params",))
    path, rule = pick_checkpoint(folder, TINY_CONFIG)
    assert path.name == "current_model_for_mixture.params" and "last epoch" in rule
    write_results(folder, checkpoints=("best_model_for_mixture_valid_stereo_loss_median.params",
                                       "best_model_for_mixture_valid_stereo_loss_mean.params"))
    path, rule = pick_checkpoint(folder, TINY_CONFIG)  # the trainer's names
    assert path.name == "best_model_for_mixture_valid_stereo_loss_mean.params" and "best mean validation" in rule
    assert pick_checkpoint(folder, TINY_CONFIG, "current")[0].name == "current_model_for_mixture.params"
    mixer = Mixer.from_results(folder, features=features_file(tmp_path), workers=1)
    assert mixer.model_info["checkpoint"] == "best_model_for_mixture_valid_stereo_loss_mean.params"
    state = torch.load(folder / "best_model_for_mixture_valid_stereo_loss_mean.params", weights_only=True)
    assert all(torch.equal(v, state[k]) for k, v in mixer.model.state_dict().items())
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        pick_checkpoint(tmp_path / "empty", TINY_CONFIG, "current")


def test_bad_weights_features_and_stems_raise_clear_errors(tmp_path):
    other = {**TINY_CONFIG, "N_FEATURES_ENCODER": 32}
    with pytest.raises(ValueError, match="do not fit the config"):
        Mixer(TINY_CONFIG, tiny_state_dict(other), features())
    with pytest.raises(ValueError, match="does not fit this run"):
        Mixer.baseline(features_file(tmp_path, "fixed"), mode="release")
    assert Mixer.baseline(features_file(tmp_path, "fixed"), mode="release", allow_features_mismatch=True).mode == \
        "release"
    with pytest.raises(ValueError, match="pre-training network"):
        Mixer({**TINY_CONFIG, "NET_TYPE": "CAFX_TDCN", "OUTPUTS": [f"{s}_out" for s in STEMS]}, {}, features())
    mixer = Mixer.baseline(features(), workers=1)
    with pytest.raises(ValueError, match="unknown stem"):
        mixer.mix({"guitar": stem_audio("other")}, SR)
    with pytest.raises(ValueError, match="NaN or Inf"):
        mixer.mix({"bass": np.full((100, 2), np.nan, np.float32)}, SR)
    with pytest.raises(ValueError, match="more than 2 channels"):
        mixer.mix({"bass": np.zeros((100, 3), np.float32)}, SR)
    with pytest.raises(ValueError, match=r"^device 'tpu' is not a device name; use auto, cpu or cuda"):
        Mixer(TINY_CONFIG, tiny_state_dict(), features(), device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available on this machine; use --device cpu"):
            Mixer(TINY_CONFIG, tiny_state_dict(), features(), device="cuda")


def test_release_mode_mixes_a_stem_without_onsets_uncompressed():
    clicks = np.zeros((SR, 2), np.float32)
    clicks[::5000] = 0.3  # isolated single-sample clicks: aubio's HFC detector reports no onset
    result = Mixer.baseline(features(), mode="release", workers=1).mix({"other": clicks}, SR)
    other = result.report["stems"]["other"]
    assert other["status"] == "normalized" and other["compression"] == "skipped"
    assert any("no onsets: compression skipped" in note for note in other["notes"])
    assert result.audio.shape == (SR, 2) and np.all(np.isfinite(result.audio)) and np.any(result.audio)
