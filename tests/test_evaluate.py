"""automix.evaluate: a real two-song evaluation (baseline + a tiny trained-layout model) through the CLI."""
import json

import numpy as np
import pytest

from automix import audio
from automix.evaluate import main
from automix.evaluation.runner import song_metrics
from automix.evaluation.summary import read_metrics_csv
from automix.fxnorm.normalize import normalize_stem, stem_rng
from mix_fixtures import STEMS, features, features_file, stem_audio, write_results

SR = 44100


def _test_split(root, songs=("song_a", "song_b"), seconds=2.5):
    for index, song in enumerate(songs):
        folder = root / song
        folder.mkdir(parents=True)
        stems = {stem: stem_audio(stem, seconds, SR, seed=index) for stem in STEMS}
        for stem, x in stems.items():
            audio.write(folder / f"{stem}.wav", x, SR)
        mixture = 0.8 * sum(stems.values()) * np.array([1.0, 0.9], dtype=np.float32)
        audio.write(folder / "mixture.wav", mixture, SR)
    return root


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    split = _test_split(root / "test")
    results = write_results(root / "results" / "tiny", checkpoints=("current_model_for_mixture.params",))
    args = ["--input-folder", str(split), "--output-folder", str(root / "out"), "--output-prefix", "run",
            "--features", str(features_file(root)), "--system", f"tiny={results}", "--workers", "1", "--quiet"]
    code = main(args)
    return root, args, code


def test_writes_mixes_csv_summary_and_report(evaluation):
    root, _, code = evaluation
    out = root / "out"
    assert code == 0
    for song in ("song_a", "song_b"):
        for system in ("baseline", "tiny"):
            mix = audio.read(out / song / f"run_{system}_mixture.wav")
            assert mix.shape == (int(2.5 * SR), 2)
    rows = read_metrics_csv(out / "metrics.csv")
    assert {r.system for r in rows} == {"baseline", "tiny"} and {r.song for r in rows} == {"song_a", "song_b"}
    metrics = {r.metric for r in rows}
    assert {"stereo_loss", "stereo_loss_La", "d_lufs", "lufs_abs_lu", "centroid_mean", "P_t_mean", "rms_mean",
            "mrstft", "l1", "l2"} <= metrics
    assert all(np.isfinite(r.value) for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    stat = summary["systems"]["tiny"]["stereo_loss"]
    assert stat["n"] == 2 and stat["ci95"][0] <= stat["mean"] <= stat["ci95"][1]
    page = (out / "report.html").read_text()
    assert "song_a" in page and "report_files/song_b/tiny.wav" in page and (out / "report_files/metric_bars.png").is_file()


def test_baseline_row_equals_the_metrics_of_the_summed_normalized_stems(evaluation):
    root, _, _ = evaluation
    song = root / "test" / "song_a"
    normalized = []
    for stem in STEMS:
        x = audio.read(song / f"{stem}.wav")
        x = x - x.mean(axis=0, dtype=np.float64).astype(np.float32)  # the mixer removes DC first
        normalized.append(normalize_stem(x, stem, features(), rng=stem_rng(0, "song_a", stem))[0])
    by_hand, _ = song_metrics(audio.read(song / "mixture.wav"), sum(normalized))
    rows = {r.metric: r.value for r in read_metrics_csv(root / "out" / "metrics.csv")
            if r.song == "song_a" and r.system == "baseline"}
    assert set(rows) == set(by_hand)
    for metric, value in by_hand.items():
        # the written mix is not re-read: the metrics use the float mix, so only float rounding differs
        assert rows[metric] == pytest.approx(value, rel=1e-4, abs=1e-6), metric


def test_a_system_row_equals_its_mix_made_and_measured_alone(evaluation):
    # the evaluation normalizes each song once for all systems and analyses the reference once: a mix made by the
    # system's own Mixer and measured without any cache must give the same numbers
    from automix.mixer import Mixer

    root, _, _ = evaluation
    song = root / "test" / "song_b"
    mixer = Mixer.from_results(root / "results" / "tiny", features=features_file(root), workers=1)
    mix = mixer.mix({stem: str(song / f"{stem}.wav") for stem in STEMS}, name="song_b").audio
    alone, _ = song_metrics(audio.read(song / "mixture.wav"), mix)
    rows = {r.metric: r.value for r in read_metrics_csv(root / "out" / "metrics.csv")
            if r.song == "song_b" and r.system == "tiny"}
    assert set(rows) == set(alone)
    for metric, value in alone.items():
        assert rows[metric] == pytest.approx(value, rel=1e-9, abs=1e-12), metric


def test_rerun_skips_songs_already_evaluated(evaluation, capsys):
    root, args, _ = evaluation
    mix_file = root / "out" / "song_a" / "run_tiny_mixture.wav"
    before = mix_file.stat().st_mtime_ns, (root / "out" / "metrics.csv").read_text()
    assert main(args) == 0
    assert "already done: 2" in capsys.readouterr().out
    assert (mix_file.stat().st_mtime_ns, (root / "out" / "metrics.csv").read_text()) == before


def test_a_bad_song_is_reported_and_the_others_go_on(tmp_path, capsys):
    split = _test_split(tmp_path / "test", songs=("good", "bad"), seconds=1.5)
    (split / "bad" / "drums.wav").write_bytes(b"RIFF not really a wav file")
    code = main(["--input-folder", str(split), "--output-folder", str(tmp_path / "out"), "--features",
                 str(features_file(tmp_path)), "--workers", "1", "--quiet"])
    output = capsys.readouterr().out
    assert code == 1
    assert "FAILED bad" in output and "drums" in output
    assert (tmp_path / "out" / "good" / "eval_baseline_mixture.wav").is_file()
    assert {r.song for r in read_metrics_csv(tmp_path / "out" / "metrics.csv")} == {"good"}


@pytest.mark.parametrize("extra, message", [
    (["--system", "ours"], "NAME=RESULTS_DIR"),
    (["--system", "ours=/does/not/exist"], "not found"),
    (["--training-params", "x.py"], "together"),
    (["--dry"], "--pre-impulse-responses"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, extra, message):
    split = _test_split(tmp_path / "test", songs=("one",), seconds=1.0)
    code = main(["--input-folder", str(split), "--output-folder", str(tmp_path / "out"), "--features",
                 str(features_file(tmp_path)), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]
    assert not (tmp_path / "out").exists()


def test_dry_stems_get_the_pre_reverb_and_the_wet_reference(tmp_path):
    dry = _test_split(tmp_path / "dry", songs=("one",), seconds=1.5)
    wet = tmp_path / "wet"
    (wet / "one").mkdir(parents=True)
    (dry / "one" / "mixture.wav").rename(wet / "one" / "mixture.wav")  # dry stems, reference elsewhere
    rng = np.random.default_rng(0)
    decay = np.exp(-np.arange(SR // 4) / (0.05 * SR))
    ir = (rng.standard_normal(SR // 4) * decay)[:, None].astype(np.float32) * 0.5
    ir[0] = 1.0
    audio.write(tmp_path / "pre" / "room" / "impulse_response.wav", ir, SR)
    args = ["--input-folder", str(dry), "--reference-folder", str(wet), "--features", str(features_file(tmp_path)),
            "--workers", "1", "--quiet", "--dry", "--pre-impulse-responses", str(tmp_path / "pre")]
    assert main([*args, "--output-folder", str(tmp_path / "out_dry")]) == 0
    record = json.loads((tmp_path / "out_dry" / "one" / "metrics.json").read_text())
    assert record["systems"]["baseline"]["stereo_loss"] > 0
    # without --dry the same stems are mixed without the pre-reverb: a different mix
    plain = args[:-3] + ["--output-folder", str(tmp_path / "out_plain")]
    assert main(plain) == 0
    a = audio.read(tmp_path / "out_dry" / "one" / "eval_baseline_mixture.wav")
    b = audio.read(tmp_path / "out_plain" / "one" / "eval_baseline_mixture.wav")
    assert np.abs(a - b).max() > 1e-3
