"""Long recordings: VAD segments near the real silences, a per-segment timeline, a summary,
results equal to analysing each segment alone, and one segment per forward pass."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from clips import CALL_SENTENCES, write_wav

from emotion2vec_app import AnalysisOptions, Engine
from emotion2vec_app.audio import AudioTooLong, decode_audio
from emotion2vec_app.model import inference
from emotion2vec_app.model import vad as segmentation
from emotion2vec_app.options import MAX_PASS_S
from emotion2vec_app.results import SEGMENT_COLUMNS

SENTENCES = CALL_SENTENCES  # the sentences of the `call` fixture (conftest.py)
TOLERANCE_S = 0.3  # VAD pads speech by 0.1 s and decides in 32 ms windows


def test_vad_segments_fall_on_the_sentences(call):
    path, bounds = call
    cut = segmentation.segment(decode_audio(path).samples, "vad")
    assert cut.method == "vad" and not cut.warnings
    assert len(cut.spans) == len(SENTENCES)
    for span, (start, end) in zip(cut.spans, bounds, strict=True):
        assert span.start_s == pytest.approx(start, abs=TOLERANCE_S)
        assert span.end_s == pytest.approx(end, abs=TOLERANCE_S)
    # Every pause's middle lies outside every segment.
    for (_, end), (start, _) in itertools.pairwise(bounds):
        middle = (end + start) / 2
        assert not any(s.start_s <= middle < s.end_s for s in cut.spans)


def test_long_speech_is_split_below_the_longest_segment(call):
    path, _ = call
    cut = segmentation.segment(decode_audio(path).samples, "vad", max_segment_s=5.0)
    assert len(cut.spans) >= len(SENTENCES)
    assert max(s.duration_s for s in cut.spans) <= 5.0 + 0.01


@pytest.mark.parametrize("block", [None, 1000, 512 * 40])
def test_vad_fed_in_blocks_finds_what_silero_finds_in_the_whole(call, block):
    from silero_vad import get_speech_timestamps, load_silero_vad

    samples = decode_audio(call[0]).samples
    expected = get_speech_timestamps(
        torch.from_numpy(samples),
        load_silero_vad(),
        threshold=segmentation.VAD_THRESHOLD,
        min_speech_duration_ms=segmentation.MIN_SPEECH_MS,
        max_speech_duration_s=2.0,
        min_silence_duration_ms=segmentation.MIN_SILENCE_MS,
        speech_pad_ms=segmentation.SPEECH_PAD_MS,
    )
    size = block or len(samples)
    blocks = (samples[i : i + size] for i in range(0, len(samples), size))
    spans = segmentation.vad_spans_of_blocks(blocks, len(samples), max_segment_s=2.0)
    assert len(spans) > len(SENTENCES)  # 2 s splits the sentences: the rules are Silero's
    assert [(s.start, s.end) for s in spans] == [(t["start"], t["end"]) for t in expected]


def test_vad_keeps_torch_threads():
    threads = torch.get_num_threads()
    segmentation.segment(np.zeros(16000, np.float32), "vad")
    assert torch.get_num_threads() == threads


def test_fixed_windows_cover_everything_and_absorb_a_short_tail():
    spans = segmentation.fixed_windows(31 * 16000 + 8000, window_s=10)
    assert [(s.start_s, s.end_s) for s in spans] == [(0, 10), (10, 20), (20, 31.5)]
    spans = segmentation.fixed_windows(33 * 16000, window_s=10)
    assert [s.end_s for s in spans] == [10, 20, 30, 33]
    assert segmentation.fixed_windows(1600)[0].end == 1600


def test_no_speech_falls_back_to_fixed_windows_with_a_warning():
    noise = np.random.default_rng(0).standard_normal(25 * 16000).astype(np.float32) * 0.01
    cut = segmentation.segment(noise, "vad")
    assert cut.method == "fixed" and len(cut.spans) == 3
    assert "found no speech" in cut.warnings[0] and "10 s windows" in cut.warnings[0]


def test_missing_silero_falls_back_to_fixed_windows(monkeypatch, call):
    def not_installed():
        raise ImportError("No module named 'silero_vad'")

    monkeypatch.setattr(segmentation, "_vad", not_installed)
    cut = segmentation.segment(decode_audio(call[0]).samples, "vad")
    assert cut.method == "fixed"
    assert "pip install silero-vad" in cut.warnings[0]


def test_long_recording_gets_a_timeline_and_summary(engine, call):
    path, bounds = call
    prediction = engine.analyze(path)  # auto: longer than LONG_AUDIO_S
    timeline = prediction.segments
    assert timeline is not None and timeline.method == "vad" and len(timeline) == len(SENTENCES)
    np.testing.assert_allclose(timeline.probs.sum(axis=1), 1.0, atol=1e-5)
    # The utterance scores are the duration-weighted distribution over the segments.
    weights = timeline.end_s - timeline.start_s
    expected = (weights[:, None] * timeline.probs).sum(axis=0) / weights.sum()
    np.testing.assert_allclose(prediction.probs, expected, atol=1e-6)

    result = prediction.to_json()
    assert result["segments"]["columns"] == list(SEGMENT_COLUMNS)
    rows = result["segments"]["rows"]
    assert len(rows) == len(SENTENCES)
    for row, (start, end) in zip(rows, bounds, strict=True):
        row_start, row_end, emotion, confidence, scores = row
        assert row_start == pytest.approx(start, abs=TOLERANCE_S)
        assert row_end == pytest.approx(end, abs=TOLERANCE_S)
        assert emotion == max(scores, key=scores.get)
        assert confidence == pytest.approx(max(scores.values()), abs=1e-6)
    summary = result["summary"]
    assert summary["segments"] == len(SENTENCES)
    assert summary["dominant"] == result["emotion"]
    assert summary["distribution"] == pytest.approx(result["scores"], abs=1e-6)
    assert summary["speech_s"] == pytest.approx(sum(r[1] - r[0] for r in rows), abs=0.05)
    voiced = sum(e - s for s, e in bounds)
    assert voiced - 0.1 < summary["speech_s"] < voiced + 2 * TOLERANCE_S * len(rows)
    tops = [row[2] for row in rows]
    expected_changes = [
        {"time_s": rows[i][0], "from": tops[i - 1], "to": tops[i]}
        for i in range(1, len(rows))
        if tops[i] != tops[i - 1]
    ]
    assert summary["changes"] == expected_changes
    assert set(prediction.timings_ms) == {"decode", "wait", "segment", "inference", "total"}


def test_each_segment_scores_exactly_as_if_analysed_alone(engine, call):
    path, _ = call
    options = AnalysisOptions(extract_embedding=True)
    prediction = engine.analyze(path, options)
    samples = prediction.waveform.samples
    model = engine.loaded_model()
    assert prediction.embedding.shape == (len(prediction.segments), 64)
    for i, (start, end) in enumerate(
        zip(prediction.segments.start_s, prediction.segments.end_s, strict=True)
    ):
        clip = samples[round(start * 16000) : round(end * 16000)]
        alone = inference.score_clip(model, clip, embedding=True)
        np.testing.assert_array_equal(prediction.segments.probs[i], alone.probs)
        np.testing.assert_array_equal(prediction.embedding[i], alone.embedding)


def test_cpu_passes_hand_their_freed_heap_back_one_by_one(engine, call, monkeypatch):
    """Else an hour's passes leave hundreds of MB of heap in pieces (BENCHMARKS.md)."""
    from emotion2vec_app.engine import local

    trims: list[int] = []
    monkeypatch.setattr(local, "release_freed_memory", lambda: trims.append(1))
    prediction = engine.analyze(call[0], AnalysisOptions(segmentation="vad"))
    assert str(engine.loaded_model().device) == "cpu"
    assert len(trims) == len(prediction.segments) == len(SENTENCES)


def test_the_model_gets_one_segment_at_a_time(engine, call):
    path, _ = call
    seen: list[tuple[int, ...]] = []
    # The conv feature encoder is the first module to see the samples.
    conv_encoder = engine.loaded_model().network.modality_encoders["AUDIO"].local_encoder
    handle = conv_encoder.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(tuple(args[0].shape)), with_kwargs=True
    )
    try:
        prediction = engine.analyze(path, AnalysisOptions(segmentation="vad"))
    finally:
        handle.remove()
    assert len(seen) == len(prediction.segments)
    longest = max(prediction.segments.end_s - prediction.segments.start_s)
    assert all(shape[0] == 1 for shape in seen)
    assert max(shape[1] for shape in seen) == pytest.approx(longest * 16000, abs=2)


def test_frame_timeline_of_a_segmented_recording_sits_inside_the_segments(engine, call):
    prediction = engine.analyze(call[0], AnalysisOptions("frame", smooth_s=0.5))
    frames, segments = prediction.frames, prediction.segments
    assert len(frames.start_s) == len(frames.probs)
    assert np.all(np.diff(frames.start_s) > 0)
    inside = np.zeros(len(frames.start_s), bool)
    for start, end in zip(segments.start_s, segments.end_s, strict=True):
        inside |= (frames.start_s >= start - 1e-9) & (frames.start_s < end)
    assert inside.all()
    json_frames = prediction.to_json()["frames"]
    assert len(json_frames["start_s"]) == len(frames.probs)


def test_smoothing_stays_inside_each_segment(engine, call):
    """A segment's smoothed frames are those of that segment analysed alone: no window
    reaches across a pause into the next segment."""
    prediction = engine.analyze(call[0], AnalysisOptions("frame", smooth_s=0.5))
    frames, segments = prediction.frames, prediction.segments
    runs = frames.runs()
    assert len(runs) == len(segments)
    for run, start, end in zip(runs, segments.start_s, segments.end_s, strict=True):
        assert frames.start_s[run][0] == pytest.approx(start)
        clip = prediction.waveform.samples[round(start * 16000) : round(end * 16000)]
        alone = engine.analyze(clip, AnalysisOptions("frame", smooth_s=0.5, segmentation="off"),
                               sample_rate=16000)  # fmt: skip
        np.testing.assert_allclose(frames.probs[run], alone.frames.probs, atol=1e-5)


def test_padded_batches_of_segments_match_one_at_a_time(tiny_model_dir, tmp_path, engine, call):
    batched = Engine(str(tiny_model_dir), cache_dir=tmp_path, batch_size=4)
    batched.wait_ready(timeout=120)
    alone = engine.analyze(call[0])
    together = batched.analyze(call[0])
    np.testing.assert_allclose(together.segments.probs, alone.segments.probs, atol=1e-5)
    np.testing.assert_allclose(together.probs, alone.probs, atol=1e-5)


def test_progress_rises_to_one(engine, call):
    seen: list[tuple[float, str]] = []
    engine.analyze(call[0], progress=lambda fraction, message: seen.append((fraction, message)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions)
    assert fractions[-1] == pytest.approx(1.0)
    assert seen[-1][1] == f"Segment {len(SENTENCES)}/{len(SENTENCES)}"


def test_fixed_windows_on_request(engine, call):
    prediction = engine.analyze(call[0], AnalysisOptions(segmentation="fixed"))
    assert prediction.segments.method == "fixed"
    assert prediction.segments.start_s[1] == pytest.approx(10.0)


def test_short_clips_stay_one_pass_unless_segmentation_is_asked_for(engine, clips):
    assert engine.analyze(clips["wav"]).segments is None
    forced = engine.analyze(clips["wav"], AnalysisOptions(segmentation="vad"))
    assert forced.segments is not None and len(forced.segments) >= 1


def test_one_pass_refuses_what_it_cannot_hold(engine, tmp_path):
    long = write_wav(tmp_path / "long.wav", np.zeros(int((MAX_PASS_S + 1) * 16000)), 16000)
    with pytest.raises(AudioTooLong, match="choose segmentation auto, vad or fixed"):
        engine.analyze(long, AnalysisOptions(segmentation="off"))


def test_bad_segmentation_option_is_named():
    with pytest.raises(ValueError, match="segmentation must be one of auto, off, vad, fixed"):
        AnalysisOptions(segmentation="sentences")
