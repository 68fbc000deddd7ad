"""Synthesise test audio: speech from espeak-ng, converted with sox and PyAV.

Real speech (not tones) makes decoder comparisons meaningful, and espeak-ng is deterministic,
so the same text always gives the same clip. sox cannot write opus or AAC, so PyAV encodes those.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

DEFAULT_TEXT = "Hello there. I am really happy to see you today, this is wonderful news."
# A support "call" of 8 sentences with known pauses: about 40 s, a long recording (the
# `call` fixture of conftest.py).
CALL_SENTENCES = [
    "Good morning, thank you for calling our support line.",
    "I have been waiting for over an hour and nobody has helped me.",
    "I am very sorry to hear that, let me look into it right away.",
    "This is the third time this month that my order has gone missing.",
    "I understand, and I will make sure it is delivered tomorrow.",
    "Well, that is good news, thank you so much for your help.",
    "You are welcome, is there anything else I can do for you today?",
    "No, that is all. Goodbye, and have a lovely evening.",
]
CALL_PAUSES_S = [1.5, 1.0, 1.8, 1.2, 1.0, 1.5, 1.2]
TOOLS = ("espeak-ng", "sox")


def missing_tools() -> list[str]:
    """The command-line tools these helpers need that are not on PATH."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def speak(text: str, path: Path, *, voice: str = "en", speed: int | None = None) -> Path:
    """Speak `text` into a 22050 Hz mono 16-bit WAV (speed in words per minute)."""
    speed_args = ["-s", str(speed)] if speed else []
    _run(["espeak-ng", "-v", voice, *speed_args, "-w", str(path), text])
    return path


def convert(
    src: Path,
    dest: Path,
    *,
    rate: int | None = None,
    channels: int | None = None,
    bits: int | None = None,
    encoding: str | None = None,
) -> Path:
    """Convert with sox; the format follows dest's extension (wav, flac, ogg, mp3, ...)."""
    options = {"-r": rate, "-c": channels, "-b": bits, "-e": encoding}
    output_args = [str(arg) for key, value in options.items() if value for arg in (key, value)]
    _run(["sox", str(src), *output_args, str(dest)])
    return dest


def encode_with_av(
    src: Path,
    dest: Path,
    codec: str,
    container: str,
    *,
    rate: int | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode mono audio with PyAV's FFmpeg (e.g. aac/mp4, libopus/webm, libopus/ogg, aac/adts).

    libopus only takes 8, 12, 16, 24 or 48 kHz, so opus is encoded at 48 kHz by default.
    `options` go to the muxer, e.g. {"live": "1"} for a WebM without a duration, as browsers
    record them.
    """
    import av

    rate = rate or (48000 if "opus" in codec else sf.info(str(src)).samplerate)
    with (
        av.open(str(src)) as inp,
        av.open(str(dest), "w", format=container, options=options or {}) as out,
    ):
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=rate)
        for frame in [*inp.decode(audio=0), None]:
            for resampled in resampler.resample(frame):
                out.mux(stream.encode(resampled))
        out.mux(stream.encode(None))
    return dest


def tone(
    seconds: float, rate: int = 16000, *, freq: float = 440.0, amplitude: float = 0.5
) -> np.ndarray:
    """A float32 sine, the simplest signal whose level is known exactly."""
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int, subtype: str | None = None) -> Path:
    """Write samples ((n,) or (n, channels)) to a WAV file; subtype e.g. "PCM_16", "FLOAT"."""
    sf.write(str(path), samples, rate, subtype=subtype, format="WAV")
    return path


def write_tone(path: Path, seconds: float, rate: int = 16000, **kwargs: float) -> Path:
    return write_wav(path, tone(seconds, rate, **kwargs), rate)


def write_silence(path: Path, seconds: float, rate: int = 16000) -> Path:
    return write_wav(path, np.zeros(round(seconds * rate), np.float32), rate)


def make_clip_set(directory: Path, text: str = DEFAULT_TEXT) -> dict[str, Path]:
    """The same sentence in every supported format, rate and layout, keyed by a short name."""
    directory.mkdir(parents=True, exist_ok=True)
    wav = speak(text, directory / "speech.wav")
    return {
        "wav": wav,
        "wav8": convert(wav, directory / "speech_u8.wav", bits=8),
        "wav24": convert(wav, directory / "speech_s24.wav", bits=24),
        "wav32f": convert(wav, directory / "speech_f32.wav", bits=32, encoding="floating-point"),
        "flac": convert(wav, directory / "speech.flac"),
        "ogg": convert(wav, directory / "speech.ogg"),
        "mp3": convert(wav, directory / "speech.mp3"),
        "opus": encode_with_av(wav, directory / "speech.opus", "libopus", "ogg"),
        "m4a": encode_with_av(wav, directory / "speech.m4a", "aac", "mp4"),
        "aac": encode_with_av(wav, directory / "speech.aac", "aac", "adts"),
        "webm": encode_with_av(wav, directory / "speech.webm", "libopus", "webm"),
        "webm_live": encode_with_av(
            wav, directory / "speech_live.webm", "libopus", "webm", options={"live": "1"}
        ),
        "stereo48k": convert(wav, directory / "speech_stereo48k.wav", rate=48000, channels=2),
        "rate8k": convert(wav, directory / "speech_8k.wav", rate=8000),
        "rate96k": convert(wav, directory / "speech_96k.wav", rate=96000),
    }


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True)


def voiced_bounds(samples: np.ndarray, rate: int, threshold: float = 0.02) -> tuple[int, int]:
    """First and last sample louder than `threshold`: espeak pads its output with silence."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    return int(loud[0]), int(loud[-1]) + 1


def speak_with_pauses(
    texts: list[str], pauses_s: list[float], path: Path, *, noise: float = 0.0
) -> list[tuple[float, float]]:
    """Sentences separated by known silences, in one 16 kHz WAV; returns each sentence's
    (start_s, end_s) of voiced audio. `noise` adds white noise of that amplitude throughout."""
    assert len(pauses_s) == len(texts) - 1
    rate = 16000
    pieces, bounds, cursor = [], [], 0
    for i, text in enumerate(texts):
        raw = speak(text, path.with_name(f"{path.stem}_{i}.wav"))
        resampled = convert(raw, path.with_name(f"{path.stem}_{i}_16k.wav"), rate=rate)
        samples, _ = sf.read(str(resampled), dtype="float32")
        start, end = voiced_bounds(samples, rate)
        voiced = samples[start:end]
        bounds.append((cursor / rate, (cursor + len(voiced)) / rate))
        pieces.append(voiced)
        cursor += len(voiced)
        if i < len(pauses_s):
            gap = np.zeros(round(pauses_s[i] * rate), np.float32)
            pieces.append(gap)
            cursor += len(gap)
    audio = np.concatenate(pieces)
    if noise:
        audio += (np.random.default_rng(0).standard_normal(len(audio)) * noise).astype(np.float32)
    write_wav(path, audio, rate)
    return bounds


LABELLED_CLASSES = ("low", "high", "noise")  # what make_labelled_set's folders are called


def make_labelled_set(directory: Path, per_class: int = 8) -> Path:
    """Three classes a random-weight model still tells apart: slow low-pitched speech, fast
    high-pitched speech, and brown noise, one subfolder each; every file's content differs."""
    for name in LABELLED_CLASSES:
        (directory / name).mkdir(parents=True, exist_ok=True)
    for i in range(per_class):
        speak(f"sentence number {i} is spoken here slowly and calmly", directory / "low" /
              f"{i}.wav", voice="en+m3", speed=110)  # fmt: skip
        speak(f"sentence number {i} is spoken here quickly and brightly", directory / "high" /
              f"{i}.wav", voice="en+f3", speed=260)  # fmt: skip
        noise = np.random.default_rng(i).standard_normal(16000 * 2 + 1600 * i).cumsum()
        write_wav(directory / "noise" / f"{i}.wav", (0.3 * noise / np.abs(noise).max()), 16000)
    return directory
