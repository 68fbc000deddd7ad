"""Turn any audio input into the 16 kHz mono float32 waveform emotion2vec expects.

soundfile (libsndfile) reads wav, flac, ogg vorbis/opus and mp3 quickly and exactly. PyAV, which
bundles FFmpeg so no system ffmpeg is needed, reads the rest (m4a/aac, webm, ...). Both decoders
hand over (frames, channels) float32 at the source rate, so the downmix (mean) and the resampler
(soxr) are shared and a signal decodes the same whichever decoder read it.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import io
import itertools
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PureWindowsPath
from typing import Any

import numpy as np
import soundfile as sf
import soxr

TARGET_RATE = 16000
MIN_DURATION_S = 0.1  # documented minimum; the model itself needs >= 400 samples (25 ms)
DEFAULT_MAX_DURATION_S = 3 * 3600.0  # longer is refused before decoding: 16 kHz = 690 MB
MIN_SOURCE_RATE, MAX_SOURCE_RATE = 8000, 96000

SILENCE_DBFS = -60.0
SILENT = "The audio is silent"  # how a silent recording's warning begins
CLIP_LEVEL = 0.999
CLIP_FRACTION = 0.01
DC_OFFSET = 0.05  # a mean this far from 0 is a recording fault, not speech

_MAX_CHANNELS = 16
TRIM_AFTER_S = 60.0  # a decode this long leaves freed blocks worth returning
STORE_MARGIN = TARGET_RATE  # samples stored beyond the expected length before growing
MAX_SPLIT_CHANNELS = 8  # channels analysed apart (stereo calls; at most a small mixer's worth)
# Even 6 kbit/s Opus spends a byte per 64 samples at 48 kHz; a header that promises far
# more samples per byte of file is corrupt, and its length is not believed.
_MAX_FRAMES_PER_BYTE = 256
_ARRAY_SCALES = {
    np.dtype(np.float32): 1.0,
    np.dtype(np.float64): 1.0,
    np.dtype(np.int16): 2.0**15,
    np.dtype(np.int32): 2.0**31,
}
_SF_FORMATS = {"WAV": "wav", "WAVEX": "wav", "RF64": "wav", "W64": "wav"}
_AV_FORMATS = {"mov,mp4,m4a,3gp,3g2,mj2": "m4a", "matroska,webm": "webm"}


class AudioError(ValueError):
    """Bad input audio; the message is one sentence a user can act on."""


class EmptyAudio(AudioError):
    """The input holds no samples at all."""


class CorruptAudio(AudioError):
    """The input is not audio, or is too damaged to decode."""


class UnsupportedSampleRate(AudioError):
    """The source rate is outside MIN_SOURCE_RATE..MAX_SOURCE_RATE."""


class AudioTooShort(AudioError):
    """The input is shorter than the minimum duration."""


class AudioTooLong(AudioError):
    """The input is longer than one pass of the model may be."""


class InvalidSamples(AudioError):
    """The input contains NaN or infinite samples."""


@dataclass(frozen=True)
class SourceInfo:
    """What the input was before conversion, for result.json and the UI."""

    name: str
    format: str
    sample_rate: int
    channels: int
    duration_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "format": self.format,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "duration_s": round(self.duration_s, 3),
        }


@dataclass(init=False)
class Waveform:
    """16 kHz mono float32 samples ready for the model, with where they came from.

    `channels` holds each source channel at 16 kHz, (C, N), when decoding was asked to keep
    them apart (a stereo call's speakers); `samples` is then their mix, made when asked for
    and not kept: a split hour would otherwise hold 230 MB more than its channels.
    """

    info: SourceInfo
    warnings: list[str]
    channels: np.ndarray | None
    _mono: np.ndarray | None = field(repr=False)

    def __init__(
        self,
        samples: np.ndarray | None,
        info: SourceInfo,
        warnings: list[str] | None = None,
        channels: np.ndarray | None = None,
    ) -> None:
        if samples is None and channels is None:
            raise ValueError("a Waveform needs its samples or its channels")
        self._mono, self.info, self.channels = samples, info, channels
        self.warnings = [] if warnings is None else warnings

    @property
    def samples(self) -> np.ndarray:
        if self._mono is not None:
            return self._mono
        return self.channels.mean(axis=0, dtype=np.float32)

    @property
    def duration_s(self) -> float:
        length = len(self._mono) if self._mono is not None else self.channels.shape[1]
        return length / TARGET_RATE


def decode_audio(
    source: str | os.PathLike[str] | bytes | np.ndarray,
    *,
    sample_rate: int | None = None,
    name: str | None = None,
    min_duration_s: float = MIN_DURATION_S,
    max_duration_s: float | None = DEFAULT_MAX_DURATION_S,
    keep_channels: bool = False,
) -> Waveform:
    """Decode a file path, file bytes or a sample array into a model-ready Waveform.

    `sample_rate` is required for arrays and refused for files, which carry their own.
    `name` is shown in messages and SourceInfo instead of the file name (only its base name).
    Raises an AudioError subclass whose message says what is wrong and what to do.
    """
    warnings: list[str] = []
    if isinstance(source, np.ndarray):
        if sample_rate is None:
            raise AudioError("An audio array needs its rate: pass sample_rate= with it.")
        name = _display_name(name, "<array>")
        mono, info = _from_array(source, _Mono16k(sample_rate, name, keep_channels))
    elif sample_rate is not None:
        raise TypeError("sample_rate applies to arrays only: audio files carry their own rate.")
    else:
        mono, info = _from_file(source, name, max_duration_s, warnings, keep_channels)
    return _finish(mono, info, warnings, min_duration_s, max_duration_s)


def _display_name(name: str | None, fallback: str) -> str:
    """Base name only, for either path style, so no directory reaches results or messages."""
    return (PureWindowsPath(name).name if name else "") or fallback


def _from_array(array: np.ndarray, mono: _Mono16k) -> tuple[_Mono16k, SourceInfo]:
    rate, name = mono.rate, mono.name
    frames = _array_frames(array, name)
    _check_rate(rate, name)
    mono.add(frames)
    return mono, SourceInfo(name, "array", int(rate), frames.shape[1], len(frames) / rate)


def _array_frames(array: np.ndarray, name: str) -> np.ndarray:
    """A sample array as (n, channels) float32 in [-1, 1], a copy the caller cannot change."""
    scale = _ARRAY_SCALES.get(array.dtype)
    if scale is None:
        raise AudioError(
            f"'{name}' has samples of type {array.dtype}: pass float32, float64, int16 or int32."
        )
    if array.size == 0:
        raise _empty(name)
    if array.ndim == 1:
        array = array[:, np.newaxis]
    elif array.ndim == 2:
        channel_axis = int(np.argmin(array.shape))
        if array.shape[channel_axis] > _MAX_CHANNELS:
            raise AudioError(
                f"'{name}' has shape {array.shape}: pass (samples,) or (samples, channels) "
                f"with at most {_MAX_CHANNELS} channels."
            )
        array = array.T if channel_axis == 0 else array
    else:
        raise AudioError(f"'{name}' has {array.ndim} dimensions: pass (samples, channels).")
    frames = np.array(array, dtype=np.float32, order="C")  # a copy: callers keep their array
    if scale != 1.0:
        frames *= np.float32(1.0 / scale)
    return frames


class LiveRecording:
    """A recording that arrives in chunks, as a browser's microphone sends it.

    Each chunk is converted to 16 kHz mono as it comes, by one resampler for the whole
    recording (so chunk edges leave no trace), and handed back for the live windows; the
    whole is kept, as a decoded file would be, for the normal analysis when it stops.
    """

    def __init__(
        self, name: str = "microphone", max_duration_s: float | None = DEFAULT_MAX_DURATION_S
    ) -> None:
        self.name = name
        self.max_duration_s = max_duration_s
        self._mono: _Mono16k | None = None
        self._channels = 1
        self._handed = 0  # stored samples already handed back

    @property
    def duration_s(self) -> float:
        return self._mono.source_frames / self._mono.rate if self._mono else 0.0

    def add(self, rate: int, samples: np.ndarray) -> np.ndarray:
        """Take one chunk ((n,) or (n, channels), int or float); return its new 16 kHz mono
        samples (a resampler holds a few back until the next chunk)."""
        if samples.size == 0:
            return np.zeros(0, np.float32)
        frames = _array_frames(samples, self.name)
        if self._mono is None:
            _check_rate(rate, self.name)
            self._mono, self._channels = _Mono16k(rate, self.name), frames.shape[1]
        elif rate != self._mono.rate:
            raise AudioError(
                f"'{self.name}' changed from {self._mono.rate} Hz to {rate} Hz while "
                "recording: stop and record again."
            )
        check_duration(self.duration_s + len(frames) / rate, self.name, self.max_duration_s)
        self._mono.add(frames)
        new, self._handed = self._mono.since(self._handed), self._mono.length
        return new

    def waveform(self) -> Waveform:
        """The whole recording, checked and warned about like any decoded file."""
        if self._mono is None:
            raise _empty(self.name)
        rate = self._mono.rate
        info = SourceInfo(self.name, "microphone", rate, self._channels, self.duration_s)
        return _finish(self._mono, info, [], MIN_DURATION_S, self.max_duration_s)


def _from_file(
    source: str | os.PathLike[str] | bytes,
    name: str | None,
    max_duration_s: float | None,
    warnings: list[str],
    keep_channels: bool,
) -> tuple[_Mono16k, SourceInfo]:
    """Try libsndfile first (fast, exact), then FFmpeg for whatever it cannot read."""
    target: str | bytes
    if isinstance(source, (bytes, bytearray)):
        target = bytes(source)
        label = _display_name(name, "<bytes>")
        size = len(target)
    else:
        target = os.fspath(source)
        label = _display_name(name, _display_name(target, "<file>"))
        if os.path.isdir(target):
            raise AudioError(f"'{label}' is a folder, not an audio file: pass a file inside it.")
        if not os.path.exists(target):
            raise AudioError(f"'{label}' was not found: check the path and try again.")
        size = os.path.getsize(target)
    if size == 0:
        raise EmptyAudio(f"'{label}' is empty (0 bytes): upload a file that contains audio.")
    with contextlib.suppress(sf.SoundFileError):
        return _read_soundfile(_readable(target), label, max_duration_s, keep_channels)
    return _read_av(_readable(target), label, max_duration_s, warnings, keep_channels)


def _size(target: str | io.BytesIO) -> int:
    return target.getbuffer().nbytes if isinstance(target, io.BytesIO) else os.path.getsize(target)


def _readable(target: str | bytes) -> str | io.BytesIO:
    """A path, or a fresh file object so that each decoder reads bytes from the start."""
    return io.BytesIO(target) if isinstance(target, bytes) else target


def _read_soundfile(
    target: str | io.BytesIO, name: str, max_duration_s: float | None, keep_channels: bool
) -> tuple[_Mono16k, SourceInfo]:
    with sf.SoundFile(target) as f:
        _check_rate(f.samplerate, name)
        plausible = _size(target) * _MAX_FRAMES_PER_BYTE
        if f.frames <= plausible:  # a header length we can believe
            check_duration(f.frames / f.samplerate, name, max_duration_s)  # no decoding
        # In blocks, never one allocation sized by the header: a corrupt header can claim
        # hours, and some decoders then keep producing samples the file does not hold.
        limit = None if max_duration_s is None else max_duration_s * f.samplerate
        expected_s = f.frames / f.samplerate if f.frames <= plausible else None
        mono, total = _Mono16k(f.samplerate, name, keep_channels, expected_s), 0
        # f.read in a loop, not f.blocks: blocks pads to the header's count with zeros.
        while len(block := f.read(1 << 16, dtype="float32", always_2d=True)):
            mono.add(block)
            total += len(block)
            if limit is not None and total > limit:
                raise _too_long(name, None, max_duration_s)
            if total > plausible:
                raise CorruptAudio(
                    f"'{name}' claims far more audio than its {_size(target)} bytes can hold: "
                    "the file is damaged."
                )
        fmt = "opus" if f.subtype == "OPUS" else _SF_FORMATS.get(f.format, f.format.lower())
        return mono, SourceInfo(name, fmt, f.samplerate, f.channels, total / f.samplerate)


def _read_av(
    target: str | io.BytesIO,
    name: str,
    max_duration_s: float | None,
    warnings: list[str],
    keep_channels: bool,
) -> tuple[_Mono16k, SourceInfo]:
    import av  # imported only when libsndfile could not read the input

    damaged: list[Exception] = []
    try:
        with av.open(target, metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise CorruptAudio(f"'{name}' has no audio track: upload an audio recording.")
            stream = container.streams.audio[0]
            if stream.codec_context is None:
                raise CorruptAudio(
                    f"'{name}' uses an audio codec this app cannot decode: "
                    "convert it to WAV, FLAC or MP3."
                )
            _check_rate(stream.rate, name)
            expected_s = None
            if container.duration is not None:
                expected_s = container.duration / av.time_base
                check_duration(expected_s, name, max_duration_s)
            fmt = container.format.name
            fmt = "opus" if (fmt, stream.codec_context.name) == ("ogg", "opus") else fmt
            mono, channels = _decode_av(
                container, stream, _Mono16k(stream.rate, name, keep_channels, expected_s),
                max_duration_s, damaged,
            )  # fmt: skip
    except av.FFmpegError as e:
        raise CorruptAudio(
            f"'{name}' could not be decoded as audio ({e.strerror or e}): "
            "the file is damaged or not an audio file."
        ) from e
    if damaged and not mono.source_frames:
        raise CorruptAudio(
            f"'{name}' could not be decoded: none of its audio packets is readable."
        ) from damaged[0]
    if damaged:
        warnings.append(
            f"{len(damaged)} damaged packet(s) of '{name}' were skipped: "
            "the file may be cut off or corrupted, so some audio may be missing."
        )
    if not mono.source_frames:
        raise _empty(name)
    fmt = _AV_FORMATS.get(fmt, fmt.split(",")[0])
    duration_s = mono.source_frames / mono.rate
    return mono, SourceInfo(name, fmt, mono.rate, channels, duration_s)


def _decode_av(
    container: Any,
    stream: Any,
    mono: _Mono16k,
    max_duration_s: float | None,
    damaged: list[Exception],
) -> tuple[_Mono16k, int]:
    """Decode and convert frame by frame, stopping as soon as the cap is exceeded.

    The rate is taken from the decoded frames: they, not the header, say what the samples are.
    Returns the converted audio and the source's channel count.
    """
    import av

    name = mono.name
    resampler = av.AudioResampler(format="fltp")  # sample format only: rate and layout kept
    shape = None
    for frame in _resample_frames(_decode_packets(container.demux(stream), damaged), resampler):
        if shape is None:
            shape = (frame.sample_rate, len(frame.layout.channels))
            mono = _Mono16k(frame.sample_rate, name, mono.keep_channels, mono.expected_s)
        elif (frame.sample_rate, len(frame.layout.channels)) != shape:
            raise CorruptAudio(
                f"'{name}' changes its sample rate or channel count part-way through: "
                "re-export it as one continuous recording."
            )
        mono.add(frame.to_ndarray().T)
        if max_duration_s is not None and mono.source_frames > max_duration_s * mono.rate:
            raise _too_long(name, None, max_duration_s)
    return mono, shape[1] if shape else 0


def _decode_packets(packets: Iterable[Any], damaged: list[Exception]) -> Iterator[Any]:
    """Decode packet by packet: a damaged packet (often a cut-off last one) costs only itself."""
    import av

    for packet in packets:
        try:
            yield from packet.decode()
        except av.InvalidDataError as e:
            damaged.append(e)


def _resample_frames(frames: Iterable[Any], resampler: Any) -> Iterator[Any]:
    # A final None flushes whatever the resampler still holds.
    for frame in itertools.chain(frames, [None]):
        yield from resampler.resample(frame)


def _check_rate(rate: float, name: str) -> None:
    if not MIN_SOURCE_RATE <= rate <= MAX_SOURCE_RATE:
        raise UnsupportedSampleRate(
            f"'{name}' has a sample rate of {rate} Hz, outside the supported "
            f"{MIN_SOURCE_RATE}-{MAX_SOURCE_RATE} Hz: resample it (16000 Hz is ideal) and retry."
        )


def check_duration(duration_s: float, name: str, max_duration_s: float | None) -> None:
    if max_duration_s is not None and duration_s > max_duration_s:
        raise _too_long(name, duration_s, max_duration_s)


def _too_long(name: str, duration_s: float | None, max_duration_s: float) -> AudioTooLong:
    """duration_s is None when decoding stopped at the cap of a file whose header has no length."""
    length = "longer than" if duration_s is None else f"{duration_s:.1f} s long, above"
    return AudioTooLong(
        f"'{name}' is {length} the {max_duration_s:g} s limit for one recording: split or "
        "trim it, or raise the limit with the max_duration_s setting (CLI: --max-duration)."
    )


def _empty(name: str) -> EmptyAudio:
    return EmptyAudio(f"'{name}' contains no audio samples: upload a file with sound in it.")


class _Mono16k:
    """Downmix and resample block by block, so source-rate audio is never held whole.

    An hour of 44.1 kHz stereo is 1.3 GB as float32; its 16 kHz mono is 230 MB. Kept apart
    (`keep_channels`), each channel is resampled and stored on its own: 460 MB for the hour.
    The blocks are written into one (C, capacity) array sized from the expected duration when
    the source says it, so no second copy is ever made (gathering blocks and joining them held
    the hour twice: 920 MB); the pages past the end are never written and cost no memory.
    """

    def __init__(
        self, rate: int, name: str, keep_channels: bool = False, expected_s: float | None = None
    ) -> None:
        self.rate = int(rate)
        self.name = name
        self.keep_channels = keep_channels
        self.source_frames = 0
        self.clipped = 0
        self._values = 0
        self.expected_s = expected_s
        self._capacity = int((expected_s or 0) * TARGET_RATE) + STORE_MARGIN
        self._stored: np.ndarray | None = None  # (C, capacity) at 16 kHz: one row, the mix
        self._length = 0  # stored samples per row
        self._resampler: soxr.ResampleStream | None = None

    @property
    def clipped_fraction(self) -> float:
        return self.clipped / self._values if self._values else 0.0

    def add(self, frames: np.ndarray) -> None:
        """Take (n, channels) float32 samples at the source rate."""
        if not np.isfinite(frames).all():
            raise InvalidSamples(
                f"'{self.name}' contains NaN or infinite samples: "
                "re-export it as ordinary PCM audio."
            )
        if self.keep_channels and frames.shape[1] > MAX_SPLIT_CHANNELS:
            raise AudioError(
                f"'{self.name}' has {frames.shape[1]} channels; at most {MAX_SPLIT_CHANNELS} "
                "can be analysed apart: mix them (channels mix) or export the ones you need."
            )
        self.clipped += int(np.count_nonzero(np.abs(frames) >= CLIP_LEVEL))
        self._values += frames.size
        self.source_frames += len(frames)
        if not self.keep_channels or frames.shape[1] == 1:
            frames = frames if frames.shape[1] == 1 else frames.mean(axis=1, keepdims=True)
        self._store(frames)

    def _store(self, frames: np.ndarray, last: bool = False) -> None:
        if self.rate != TARGET_RATE:
            if self._resampler is None:
                self._resampler = soxr.ResampleStream(
                    self.rate, TARGET_RATE, frames.shape[1], dtype="float32", quality="HQ"
                )
            width = frames.shape[1]
            frames = self._resampler.resample_chunk(np.ascontiguousarray(frames), last=last)
            frames = frames.reshape(len(frames), width)  # soxr returns 1-D for one channel
        end = self._length + len(frames)
        if self._stored is None or end > self._stored.shape[1]:
            self._grow(frames.shape[1], end)
        self._stored[:, self._length : end] = frames.T
        self._length = end

    def _grow(self, rows: int, needed: int) -> None:
        """Room for `needed` samples: the expected length first, then half as much again."""
        capacity = self._capacity if self._stored is None else self._stored.shape[1] * 3 // 2
        grown = np.empty((rows, max(capacity, needed + STORE_MARGIN)), np.float32)
        if self._stored is not None:
            grown[:, : self._length] = self._stored[:, : self._length]
        self._stored = grown

    def since(self, start: int) -> np.ndarray:
        """The first row's samples from `start` on, a copy."""
        if self._stored is None:
            return np.zeros(0, np.float32)
        return self._stored[0, start : self._length].copy()

    @property
    def length(self) -> int:
        return self._length

    def channels(self) -> np.ndarray:
        """Every stored channel at 16 kHz as one (C, N) array (a view of the store): one row,
        the mix, unless kept apart."""
        if self._resampler is not None:
            rows = 1 if self._stored is None else len(self._stored)
            self._store(np.zeros((0, rows), np.float32), last=True)
            self._resampler = None
        if self._stored is None:
            return np.zeros((1, 0), np.float32)
        return self._stored[:, : self._length]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing is kept
        return None


def release_freed_memory() -> None:
    """Hand the heap's freed blocks back to the system. glibc keeps them, and they stay
    counted in the process's memory: a long decode's blocks, read and resampled one at a
    time; in a batch, waveforms freed on another thread than the one that decoded them
    (200 files: 1.15 -> 1.9 GB untrimmed, flat trimmed after each group); CPU passes over
    segments of ever shorter lengths (engine.local)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _finish(
    mono: _Mono16k,
    info: SourceInfo,
    warnings: list[str],
    min_duration_s: float,
    max_duration_s: float | None,
) -> Waveform:
    """Validate the converted audio and add warnings about its level."""
    name = info.name
    if mono.source_frames == 0:
        raise _empty(name)
    if info.duration_s < min_duration_s:
        raise AudioTooShort(
            f"'{name}' is {info.duration_s:.3f} s long, shorter than the "
            f"{min_duration_s:g} s minimum: record or upload a longer clip."
        )
    check_duration(info.duration_s, name, max_duration_s)
    stored = mono.channels()  # (C, N): checked as a whole, without making their mix
    if info.duration_s > TRIM_AFTER_S:
        release_freed_memory()
    if not np.isfinite(stored).all():  # finite input can still overflow float32 on the way
        raise InvalidSamples(
            f"'{name}' contains samples too large to process (beyond float32 range): "
            "re-export it as ordinary PCM audio."
        )
    peak = max(float(stored.max()), -float(stored.min())) if stored.size else 0.0  # no copy
    if peak < 10 ** (SILENCE_DBFS / 20):
        level = f"peak {20 * math.log10(peak):.0f} dBFS" if peak > 0 else "every sample is zero"
        warnings.append(f"{SILENT} ({level}): the emotion scores will describe noise, not speech.")
    if mono.clipped_fraction > CLIP_FRACTION:
        warnings.append(
            f"The audio is heavily clipped ({mono.clipped_fraction:.1%} of samples at full "
            "scale): scores may be less reliable; record with a lower input gain."
        )
    offset = float(stored.mean(dtype=np.float64)) if stored.size else 0.0  # the mix's mean
    if abs(offset) > DC_OFFSET:
        warnings.append(
            f"The audio has a DC offset of {offset:+.2f}: the model normalises it away, but it "
            "points to a faulty microphone or converter."
        )
    if len(stored) > 1:  # kept apart, as asked
        return Waveform(None, info, warnings, stored)
    return Waveform(stored[0], info, warnings)
