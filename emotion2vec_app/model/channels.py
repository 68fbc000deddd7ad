"""Which channel of a multi-channel call speaks when: each speaker on a channel of their own.

Real recordings leak a little of each side into the other channel (crosstalk in the phone
system, a headset heard by the other microphone), typically 20-40 dB down. Voice activity
detection alone would find the leaked speech too. So a channel's speech counts as its own
only where it is no more than LEAK_MARGIN_DB below the loudest channel, frame by frame: a
leak is far quieter than its source, while two people talking at once are both near full
level (overlap). Frames that fail the rule are silenced before the channel's VAD runs.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from emotion2vec_app.audio import TARGET_RATE

FRAME = TARGET_RATE // 50  # 20 ms energy frames
LEAK_MARGIN_DB = 15.0  # quieter than the loudest channel by more than this: a leak, not speech
IDENTICAL_TOLERANCE = 1e-4  # of the peak: channels this close are one signal
BLOCK = FRAME * 8_000  # samples compared, summed or silenced at a time (160 s, 10 MB a row)


def identical(channels: np.ndarray) -> bool:
    """Fake stereo: every channel the same signal (a mono recording saved as two). Compared a
    block at a time, so an hour needs no hour-long temporaries and a real call stops early."""
    peak = max(float(channels.max()), -float(channels.min())) or 1.0
    tolerance = IDENTICAL_TOLERANCE * peak
    for start in range(0, channels.shape[1], BLOCK):
        block = channels[:, start : start + BLOCK]
        if np.abs(block[1:] - block[0]).max(initial=0.0) > tolerance:
            return False
    return True


def frame_levels_db(channel: np.ndarray) -> np.ndarray:
    """Mean power of each 20 ms frame of one channel, in dB (the last frame may be short).
    Summed in float64 a block at a time: an hour's float64 copy would be 460 MB."""
    whole = len(channel) // FRAME * FRAME
    frames = channel[:whole].reshape(-1, FRAME)
    step = BLOCK // FRAME
    power = np.concatenate(
        [
            np.square(frames[i : i + step], dtype=np.float64).mean(axis=1)
            for i in range(0, len(frames), step)
        ]
        or [np.zeros(0)]
    )
    if whole < len(channel):
        power = np.append(power, np.square(channel[whole:], dtype=np.float64).mean())
    return 10 * np.log10(power + 1e-12)


def own_frames(channels: np.ndarray) -> np.ndarray:
    """(C, frames) bool: where each channel is not a leak of a louder one."""
    levels = np.stack([frame_levels_db(channel) for channel in channels])
    return levels >= levels.max(axis=0) - LEAK_MARGIN_DB


def own_speech(channel: np.ndarray, owned: np.ndarray) -> Iterator[np.ndarray]:
    """The channel with the frames it does not own (a row of `own_frames`) silenced: what
    its VAD should hear, made a block at a time as it is heard (a copy of an hour would be
    230 MB)."""
    frames = BLOCK // FRAME
    for first in range(0, len(channel), BLOCK):
        heard = channel[first : first + BLOCK].copy()
        mine = owned[first // FRAME : first // FRAME + frames]
        whole = len(heard) // FRAME
        heard[: whole * FRAME].reshape(-1, FRAME)[~mine[:whole]] = 0.0
        if whole < len(mine) and not mine[whole]:
            heard[whole * FRAME :] = 0.0
        yield heard
