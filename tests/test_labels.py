from pathlib import Path

import pytest

from emotion2vec_app.labels import EMOTIONS, emotion_for_token, read_labels
from emotion2vec_app.model.synthetic import REFERENCE


def test_reference_tokens_map_to_the_nine_emotions_in_order():
    labels = read_labels(Path(str(REFERENCE / "tokens.txt")))
    assert [e.key for e in labels.emotions] == [
        "angry", "disgusted", "fearful", "happy", "neutral",
        "other", "sad", "surprised", "unknown",
    ]  # fmt: skip
    assert [e.zh for e in labels.emotions[:8]] == [
        "生气", "厌恶", "恐惧", "开心", "中立", "其他", "难过", "吃惊",
    ]  # fmt: skip
    assert not labels.is_stale_snapshot
    assert labels.warning is None


def test_every_emotion_has_bilingual_names_emoji_and_colour():
    assert len(EMOTIONS) == 9
    assert len({e.key for e in EMOTIONS}) == 9
    for emotion in EMOTIONS:
        assert emotion.zh and emotion.en and emotion.emoji
        assert emotion.colour.startswith("#") and len(emotion.colour) == 7


@pytest.mark.parametrize(
    ("token", "key"),
    [
        ("生气/angry", "angry"),
        ("<unk>", "unknown"),
        ("happy", "happy"),
        ("吃惊/surprised", "surprised"),
    ],
)
def test_token_forms(token, key):
    assert emotion_for_token(token).key == key


def test_unlisted_token_keeps_its_own_name():
    emotion = emotion_for_token("烦躁/irritated")
    assert (emotion.key, emotion.zh) == ("irritated", "烦躁")


def test_stale_snapshot_is_detected_with_a_warning(tmp_path):
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(
        "生气/angry\nunuse_1\nunuse_2\n开心/happy\n中立/neutral\nunuse_5\n难过/sad\nunuse_7\n<unk>\n",
        encoding="utf-8",
    )
    labels = read_labels(tokens)
    assert labels.is_stale_snapshot
    assert labels.active_indices == (0, 3, 4, 6, 8)
    assert [e.key for e in labels.emotions] == ["angry", "happy", "neutral", "sad", "unknown"]
    assert "old" in labels.warning and "5" in labels.warning


def test_empty_tokens_file_is_an_error(tmp_path):
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no labels"):
        read_labels(tokens)
