import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from clips import encode_with_av, tone, write_silence, write_tone, write_wav

from emotion2vec_app import audio
from emotion2vec_app.audio import (
    TARGET_RATE,
    AudioError,
    AudioTooLong,
    AudioTooShort,
    CorruptAudio,
    EmptyAudio,
    InvalidSamples,
    SourceInfo,
    UnsupportedSampleRate,
    decode_audio,
)

# key in make_clip_set -> (format, original rate, original channels)
EXPECTED = {
    "wav": ("wav", 22050, 1),
    "wav8": ("wav", 22050, 1),
    "wav24": ("wav", 22050, 1),
    "wav32f": ("wav", 22050, 1),
    "flac": ("flac", 22050, 1),
    "ogg": ("ogg", 22050, 1),
    "opus": ("opus", 48000, 1),
    "mp3": ("mp3", 22050, 1),
    "m4a": ("m4a", 22050, 1),
    "aac": ("aac", 22050, 1),
    "webm": ("webm", 48000, 1),
    "webm_live": ("webm", 48000, 1),
    "stereo48k": ("wav", 48000, 2),
    "rate8k": ("wav", 8000, 1),
    "rate96k": ("wav", 96000, 1),
}
LOSSLESS = {"wav", "wav8", "wav24", "wav32f", "flac", "stereo48k", "rate8k", "rate96k"}


def alignment(a: np.ndarray, b: np.ndarray, max_lag: int = 2000) -> tuple[int, float]:
    """(lag, normalised cross-correlation) of the best alignment of a against b."""
    n = len(a) + len(b)
    xc = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)
    lags = np.r_[0:max_lag, -max_lag:0]
    best = int(np.argmax(xc[lags]))
    norm = np.sqrt(float(a @ a) * float(b @ b))
    return int(lags[best]), float(xc[lags[best]] / norm)


@pytest.fixture(scope="module")
def reference(clips: dict[str, Path]) -> np.ndarray:
    return decode_audio(clips["wav"]).samples


@pytest.mark.parametrize("key", EXPECTED)
def test_every_format_decodes_to_the_same_16k_mono_speech(
    clips: dict[str, Path], reference: np.ndarray, key: str
) -> None:
    wave = decode_audio(clips[key])
    samples = wave.samples
    assert samples.dtype == np.float32 and samples.ndim == 1 and samples.flags.c_contiguous
    assert (wave.info.format, wave.info.sample_rate, wave.info.channels) == EXPECTED[key]
    assert wave.info.name == clips[key].name
    source_s = sf.info(str(clips["wav"])).duration
    assert wave.info.duration_s == pytest.approx(source_s, abs=0.002 if key in LOSSLESS else 0.1)
    assert wave.duration_s == pytest.approx(wave.info.duration_s, abs=1e-3)
    assert wave.warnings == []
    # Lossy codecs add encoder delay (mp3, raw ADTS aac); lossless ones must line up exactly.
    lag, correlation = alignment(samples, reference)
    if key in LOSSLESS:
        assert (lag, correlation) == (0, pytest.approx(1.0, abs=0.01))
    else:
        assert abs(lag) <= 0.1 * TARGET_RATE and correlation > 0.95


@pytest.mark.parametrize("key", ["flac", "ogg", "mp3", "opus", "wav24", "stereo48k"])
def test_pyav_fallback_matches_soundfile(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    by_soundfile = decode_audio(clips[key])

    def unreadable(*args: object, **kwargs: object) -> None:
        raise sf.SoundFileError("forced fallback")

    monkeypatch.setattr(audio.sf, "SoundFile", unreadable)
    by_pyav = decode_audio(clips[key])
    assert by_pyav.info == by_soundfile.info
    np.testing.assert_allclose(by_pyav.samples, by_soundfile.samples, atol=1e-5)


@pytest.mark.parametrize("key", ["wav", "mp3", "opus", "m4a", "webm"])
def test_bytes_decode_like_the_path(clips: dict[str, Path], key: str) -> None:
    from_path = decode_audio(clips[key])
    data = clips[key].read_bytes()
    from_bytes = decode_audio(data)
    np.testing.assert_array_equal(from_bytes.samples, from_path.samples)
    assert from_bytes.info == replace(from_path.info, name="<bytes>")
    assert decode_audio(data, name="upload.bin").info.name == "upload.bin"


def test_format_comes_from_content_not_extension(clips: dict[str, Path], tmp_path: Path) -> None:
    m4a_named_wav = tmp_path / "really_m4a.wav"
    m4a_named_wav.write_bytes(clips["m4a"].read_bytes())
    mp3_named_ogg = tmp_path / "really_mp3.ogg"
    mp3_named_ogg.write_bytes(clips["mp3"].read_bytes())
    assert decode_audio(m4a_named_wav).info.format == "m4a"
    assert decode_audio(mp3_named_ogg).info.format == "mp3"


def test_float64_array_at_16k_passes_through_unchanged() -> None:
    x = tone(0.5, 16000).astype(np.float64)
    wave = decode_audio(x, sample_rate=16000)
    np.testing.assert_array_equal(wave.samples, x.astype(np.float32))
    assert wave.info == SourceInfo("<array>", "array", 16000, 1, 0.5)
    wave.samples[:] = 0  # the caller's array is copied, never aliased
    assert np.abs(x).max() > 0.4


@pytest.mark.parametrize(("dtype", "full_scale"), [(np.int16, 2**15), (np.int32, 2**31)])
def test_integer_arrays_are_scaled_to_unit_range(dtype: type, full_scale: int) -> None:
    x = np.tile(np.array([full_scale // 2, -full_scale], dtype=dtype), 1000)
    wave = decode_audio(x, sample_rate=16000)
    np.testing.assert_allclose(wave.samples[:2], [0.5, -1.0])


def test_two_dimensional_arrays_downmix_in_either_layout() -> None:
    left, right = tone(0.5, 48000, freq=300), tone(0.5, 48000, freq=500, amplitude=0.2)
    expected = decode_audio((left + right) / 2, sample_rate=48000).samples
    for layout in (np.stack([left, right], axis=1), np.stack([left, right], axis=0)):
        wave = decode_audio(layout, sample_rate=48000)
        assert wave.info.channels == 2 and wave.info.duration_s == pytest.approx(0.5)
        assert len(wave.samples) == 8000
        np.testing.assert_allclose(wave.samples, expected, atol=1e-6)


@pytest.mark.parametrize(
    "array",
    [np.zeros((3, 100, 2)), np.zeros((20, 4000)), np.zeros(8000, dtype=np.uint8)],
    ids=["3-D", "no-channel-axis", "uint8"],
)
def test_unusable_arrays_are_refused(array: np.ndarray) -> None:
    with pytest.raises(AudioError, match="pass"):
        decode_audio(array, sample_rate=16000)


def test_arrays_need_a_rate_and_files_refuse_one(clips: dict[str, Path]) -> None:
    with pytest.raises(AudioError, match="sample_rate"):
        decode_audio(tone(0.5))
    with pytest.raises(UnsupportedSampleRate, match="4000 Hz"):
        decode_audio(tone(0.5, 4000), sample_rate=4000)
    with pytest.raises(TypeError):
        decode_audio(clips["wav"], sample_rate=16000)


@pytest.mark.parametrize("rate", [4000, 192000])
def test_rates_outside_8_to_96k_are_refused(tmp_path: Path, rate: int) -> None:
    path = write_tone(tmp_path / f"tone_{rate}.wav", 0.5, rate)
    with pytest.raises(UnsupportedSampleRate, match=rf"tone_{rate}\.wav.*{rate} Hz"):
        decode_audio(path)


def test_empty_inputs(tmp_path: Path) -> None:
    empty_file = tmp_path / "empty.wav"
    empty_file.write_bytes(b"")
    header_only = write_wav(tmp_path / "header_only.wav", np.zeros(0, np.float32), 16000)
    assert header_only.stat().st_size > 0
    for source in (empty_file, header_only, b""):
        with pytest.raises(EmptyAudio):
            decode_audio(source)
    for array in (np.zeros(0, np.float32), np.zeros((0, 2), np.int16)):
        with pytest.raises(EmptyAudio):
            decode_audio(array, sample_rate=16000)


def test_non_audio_is_corrupt(clips: dict[str, Path], tmp_path: Path) -> None:
    m4a = clips["m4a"].read_bytes()
    fakes = {
        "random.wav": np.random.default_rng(0).bytes(5000),
        "text.mp3": b"this is a text file, not audio\n" * 50,
        "image.wav": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(500),
        "cut.m4a": m4a[: len(m4a) // 2],  # its index (moov) is written last, so it is lost
    }
    for name, data in fakes.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(CorruptAudio, match=re.escape(name)) as raised:
            decode_audio(path)
        assert str(tmp_path) not in str(raised.value)
    with pytest.raises(CorruptAudio) as raised:
        decode_audio(fakes["random.wav"])
    assert raised.value.__cause__ is not None  # the decoder's own error stays attached


@pytest.mark.parametrize("key", ["wav", "mp3", "ogg"])
def test_truncated_files_decode_what_is_there(
    clips: dict[str, Path], tmp_path: Path, key: str
) -> None:
    data = clips[key].read_bytes()
    cut = tmp_path / f"cut.{key}"
    cut.write_bytes(data[: len(data) // 2])
    full_s = decode_audio(clips[key]).duration_s
    assert 0.3 * full_s < decode_audio(cut).duration_s < 0.7 * full_s


def test_damaged_packets_are_skipped_with_a_warning(clips: dict[str, Path], tmp_path: Path) -> None:
    data = clips["flac"].read_bytes()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(data[: len(data) // 2])  # libsndfile loses sync; FFmpeg drops the last packet
    wave = decode_audio(cut)
    assert 0 < wave.duration_s < decode_audio(clips["flac"]).duration_s
    assert any("damaged packet" in w for w in wave.warnings)


def test_too_short_gives_duration_and_minimum(tmp_path: Path) -> None:
    with pytest.raises(AudioTooShort, match=r"0\.010 s.*0\.1 s"):
        decode_audio(write_tone(tmp_path / "blip.wav", 0.01))
    assert decode_audio(write_tone(tmp_path / "ok.wav", 0.1)).duration_s == pytest.approx(0.1)


@pytest.mark.parametrize("key", ["wav", "m4a", "webm_live"])
def test_too_long_names_the_limit_and_how_to_raise_it(clips: dict[str, Path], key: str) -> None:
    with pytest.raises(AudioTooLong) as raised:
        decode_audio(clips[key], max_duration_s=2)
    message = str(raised.value)
    for part in (clips[key].name, "2 s limit for one recording", "max_duration_s"):
        assert part in message
    assert "--max-duration" in message
    assert decode_audio(clips[key], max_duration_s=None).duration_s > 4


def test_too_long_is_refused_from_the_header_without_decoding(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded a file the header already ruled out")

    monkeypatch.setattr(audio.sf.SoundFile, "read", no_decoding)
    monkeypatch.setattr(audio, "_decode_av", no_decoding)
    for key in ("wav", "flac", "m4a", "webm"):
        with pytest.raises(AudioTooLong, match=r"4\.\d s long"):
            decode_audio(clips[key], max_duration_s=2)


def test_without_a_header_length_decoding_stops_at_the_cap(clips: dict[str, Path]) -> None:
    with pytest.raises(AudioTooLong, match="is longer than the 2 s limit"):
        decode_audio(clips["webm_live"], max_duration_s=2)


def test_nan_and_inf_are_refused(tmp_path: Path) -> None:
    x = tone(0.5)
    x[100] = np.nan
    with pytest.raises(InvalidSamples, match=r"nan\.wav"):
        decode_audio(write_wav(tmp_path / "nan.wav", x, 16000, subtype="FLOAT"))
    x[100] = np.inf
    with pytest.raises(InvalidSamples):
        decode_audio(x, sample_rate=16000)


def test_silence_and_clipping_warn_but_decode(tmp_path: Path) -> None:
    silent = decode_audio(write_silence(tmp_path / "silence.wav", 1.0))
    assert len(silent.samples) == 16000
    assert len(silent.warnings) == 1 and "silent (every sample is zero)" in silent.warnings[0]
    quiet = decode_audio(tone(1.0, amplitude=10 ** (-70 / 20)), sample_rate=16000)
    assert len(quiet.warnings) == 1 and "-70 dBFS" in quiet.warnings[0]
    clipped = decode_audio(np.clip(3 * tone(1.0), -1, 1), sample_rate=16000)
    assert len(clipped.warnings) == 1 and "clipped" in clipped.warnings[0]
    offset = decode_audio(tone(1.0, amplitude=0.2) + 0.3, sample_rate=16000)
    assert len(offset.warnings) == 1 and "DC offset of +0.30" in offset.warnings[0]
    assert not decode_audio(tone(1.0, amplitude=0.2) + 0.01, sample_rate=16000).warnings


def test_names_never_contain_a_directory(clips: dict[str, Path], tmp_path: Path) -> None:
    nested = tmp_path / "private" / "folder"
    nested.mkdir(parents=True)
    path = nested / "voice.wav"
    path.write_bytes(clips["wav"].read_bytes())
    assert decode_audio(path).info.name == "voice.wav"
    for name in ("/home/me/voice.wav", "C:\\Users\\me\\voice.wav", "voice.wav"):
        assert decode_audio(path, name=name).info.name == "voice.wav"
    with pytest.raises(AudioTooShort) as raised:
        decode_audio(path, min_duration_s=60)
    assert "private" not in str(raised.value)


def test_missing_files_and_folders_are_audio_errors(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"absent\.wav.*not found"):
        decode_audio(tmp_path / "absent.wav")
    with pytest.raises(AudioError, match="folder"):
        decode_audio(tmp_path)


def test_source_info_to_json() -> None:
    info = SourceInfo("a.mp3", "mp3", 44100, 2, 8.00049)
    assert info.to_json() == {
        "name": "a.mp3",
        "format": "mp3",
        "sample_rate": 44100,
        "channels": 2,
        "duration_s": 8.0,
    }


@pytest.mark.parametrize("expected_s", [None, 0.5, 20.0, 3600.0])
def test_blocks_are_stored_in_order_whatever_length_was_expected(expected_s):
    """The store is sized from the length a header claims; a wrong claim (too short: it grows,
    too long: the rest is never used) changes nothing in the samples."""
    rng = np.random.default_rng(7)
    blocks = [
        rng.uniform(-0.5, 0.5, (int(n), 2)).astype(np.float32) for n in rng.integers(1, 9000, 60)
    ]
    store = audio._Mono16k(16000, "blocks.wav", keep_channels=True, expected_s=expected_s)
    for block in blocks:
        store.add(block)
    np.testing.assert_array_equal(store.channels(), np.concatenate(blocks).T)


@pytest.mark.parametrize("codec", [None, "aac"])
def test_a_file_whose_header_gives_its_length_is_stored_without_a_copy(
    tmp_path, monkeypatch, codec
):
    """One allocation for the whole: an hour of stereo is held once, not gathered and joined
    (libsndfile's frame count, or the container's duration through PyAV)."""
    seconds = 70.0
    wav = write_wav(tmp_path / "long.wav", tone(seconds, 44100, freq=220), 44100)
    path = wav if codec is None else encode_with_av(wav, tmp_path / "long.m4a", codec, "mp4")
    grown = []
    grow = audio._Mono16k._grow
    monkeypatch.setattr(audio._Mono16k, "_grow", lambda self, *a: grown.append(a) or grow(self, *a))
    waveform = audio.decode_audio(path)
    assert abs(len(waveform.samples) - seconds * 16000) < 2000
    assert len(grown) == 1
