"""automix.audio: round trips for every subtype, the release's integer scaling, and every error class."""
import logging

import numpy as np
import pytest
import soundfile as sf

from automix import audio


@pytest.fixture
def noise():
    rng = np.random.default_rng(0)
    return (0.1 * rng.standard_normal((4410, 2))).astype(np.float32)


@pytest.mark.parametrize("subtype, tolerance", [("PCM_16", 1 / 32768), ("PCM_24", 1 / 2**23),
                                                ("PCM_32", 1 / 2**31), ("FLOAT", 0.0)])
def test_wav_round_trip(tmp_path, noise, subtype, tolerance):
    path = tmp_path / "x.wav"
    audio.write(path, noise, subtype=subtype)
    back = audio.read(path)
    assert back.dtype == np.float32 and back.shape == noise.shape
    assert np.max(np.abs(back - noise)) <= tolerance


def test_flac_round_trip(tmp_path, noise):
    audio.write(tmp_path / "x.flac", noise)
    assert np.max(np.abs(audio.read(tmp_path / "x.flac") - noise)) <= 1 / 32768


def test_integer_scaling_matches_release(tmp_path):
    # int16 -> /32768, int32 (and 24-bit, left aligned) -> /2**31: full-scale negative is exactly -1
    sf.write(tmp_path / "a.wav", np.array([[-32768], [16384], [32767]], np.int16), 44100, subtype="PCM_16")
    np.testing.assert_array_equal(audio.read(tmp_path / "a.wav", channels=1)[:, 0], [-1.0, 0.5, 32767 / 32768])
    sf.write(tmp_path / "b.wav", np.array([[-2**31], [2**30]], np.int32), 44100, subtype="PCM_32")
    np.testing.assert_array_equal(audio.read(tmp_path / "b.wav", channels=1)[:, 0], [-1.0, 0.5])
    sf.write(tmp_path / "c.wav", np.array([[-2**31], [2**30]], np.int32), 44100, subtype="PCM_24")
    np.testing.assert_array_equal(audio.read(tmp_path / "c.wav", channels=1)[:, 0], [-1.0, 0.5])
    sf.write(tmp_path / "d.wav", np.array([[-128 * 256], [64 * 256]], np.int16), 44100, subtype="PCM_U8")
    np.testing.assert_array_equal(audio.read(tmp_path / "d.wav", channels=1)[:, 0], [-1.0, 0.5])


def test_write_scales_like_release_and_clips(tmp_path, caplog):
    x = np.array([[0.5], [1.5], [-2.0]], np.float32)
    with caplog.at_level(logging.WARNING):
        audio.write(tmp_path / "clip.wav", x)
    assert "clipped" in caplog.text
    raw, _ = sf.read(tmp_path / "clip.wav", dtype="int16")
    np.testing.assert_array_equal(raw, [16384, 32767, -32768])


def test_mono_is_duplicated(tmp_path):
    mono = np.linspace(-0.5, 0.5, 100, dtype=np.float32)
    audio.write(tmp_path / "m.wav", mono)
    stereo = audio.read(tmp_path / "m.wav")
    assert stereo.shape == (100, 2)
    np.testing.assert_array_equal(stereo[:, 0], stereo[:, 1])


def test_resampling_is_logged_and_keeps_a_tone(tmp_path, caplog):
    t = np.arange(48000) / 48000
    audio.write(tmp_path / "48k.wav", 0.5 * np.sin(2 * np.pi * 1000 * t), sample_rate=48000, subtype="FLOAT")
    with caplog.at_level(logging.INFO):
        y = audio.read(tmp_path / "48k.wav")
    assert "resampling 48000 Hz -> 44100 Hz" in caplog.text
    assert abs(y.shape[0] - 44100) <= 1
    spectrum = np.abs(np.fft.rfft(y[2000:-2000, 0] * np.hanning(y.shape[0] - 4000)))
    peak_hz = np.argmax(spectrum) * 44100 / (y.shape[0] - 4000)
    assert abs(peak_hz - 1000) < 2


def test_float_beyond_full_scale_is_kept_with_warning(tmp_path, caplog):
    audio.write(tmp_path / "hot.wav", np.array([[1.5], [0.1]], np.float32), subtype="FLOAT")
    with caplog.at_level(logging.WARNING):
        y = audio.read(tmp_path / "hot.wav", channels=1)
    assert y[0, 0] == pytest.approx(1.5) and "beyond" in caplog.text


def _assert_error(path, *words):
    with pytest.raises(audio.AudioError) as info:
        audio.read(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message
    assert isinstance(info.value, ValueError)


def test_error_missing_file(tmp_path):
    _assert_error(tmp_path / "nope.wav", "not found")


def test_error_not_audio(tmp_path):
    (tmp_path / "text.wav").write_text("this is not a wav file\n" * 20)
    _assert_error(tmp_path / "text.wav", "not a readable audio file")


def test_error_truncated(tmp_path, noise):
    audio.write(tmp_path / "full.wav", noise)
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[:44 + 1000])  # header intact, data cut short
    _assert_error(tmp_path / "cut.wav", "truncated")


def test_error_truncated_flac(tmp_path, noise):
    audio.write(tmp_path / "full.flac", np.tile(noise, (10, 1)))
    data = (tmp_path / "full.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[: len(data) // 2])
    _assert_error(tmp_path / "cut.flac", "corrupt/truncated")


def test_error_zero_samples(tmp_path):
    sf.write(tmp_path / "empty.wav", np.zeros((0, 2), np.int16), 44100, subtype="PCM_16")
    _assert_error(tmp_path / "empty.wav", "zero samples")


def test_error_too_many_channels(tmp_path):
    sf.write(tmp_path / "surround.wav", np.zeros((100, 6), np.int16), 44100, subtype="PCM_16")
    _assert_error(tmp_path / "surround.wav", "6 channels")


def test_error_nan(tmp_path):
    bad = np.zeros((100, 2), np.float32)
    bad[10, 1] = np.nan
    sf.write(tmp_path / "nan.wav", bad, 44100, subtype="FLOAT")
    _assert_error(tmp_path / "nan.wav", "NaN")


def test_write_is_atomic(tmp_path, noise, monkeypatch):
    path = tmp_path / "keep.wav"
    audio.write(path, noise)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # e.g. the user presses Ctrl-C mid-write

    monkeypatch.setattr(sf, "write", crash)
    with pytest.raises(KeyboardInterrupt):
        audio.write(path, noise * 0.5)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.wav"]  # no temporary file left behind


def test_write_refuses_nan(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        audio.write(tmp_path / "x.wav", np.array([[np.nan]]))
    assert not (tmp_path / "x.wav").exists()
