"""Every string the WebUI shows, in English and 中文. Plain data: no gradio here."""

from __future__ import annotations

LANGUAGES = {"en": "English", "zh": "中文"}

TEXT: dict[str, dict[str, str]] = {
    "title": {
        "en": "# 🎙️ emotion2vec+ Speech Emotion Recognition",
        "zh": "# 🎙️ emotion2vec+ 语音情感识别",
    },
    "subtitle": {
        "en": "Drop a recording or use the microphone: 9 emotions for the whole utterance or "
        "every 20 ms, plus the embedding for your own work.",
        "zh": "上传录音或使用麦克风：整句或每 20 毫秒的 9 类情感得分，并可下载情感特征向量（embedding）。",
    },
    "language": {"en": "Language / 语言", "zh": "语言 / Language"},
    "audio": {"en": "Audio (upload or record)", "zh": "音频（上传或录音）"},
    "granularity": {"en": "Granularity", "zh": "分析粒度"},
    "utterance": {"en": "Utterance (whole clip)", "zh": "整句（utterance）"},
    "frame": {"en": "Frame (timeline, every 20 ms)", "zh": "帧级（时间轴，每 20 毫秒）"},
    "smooth": {"en": "Timeline smoothing (s)", "zh": "时间轴平滑窗口（秒）"},
    "embedding": {"en": "Extract embedding (.npy)", "zh": "提取特征向量（.npy）"},
    "analyze": {"en": "Analyze", "zh": "开始分析"},
    "clear": {"en": "Clear", "zh": "清除"},
    "examples": {
        "en": "Example clips (synthetic speech made with espeak-ng, not real emotions)",
        "zh": "示例音频（espeak-ng 合成语音，并非真实情感）",
    },
    "result": {"en": "Result", "zh": "识别结果"},
    "scores": {"en": "Scores of all 9 emotions", "zh": "9 类情感得分"},
    "timeline": {"en": "Emotion over time", "zh": "情感随时间变化"},
    "timeline_note": {
        "en": "The head was trained on utterance means: single frames are noisier than the "
        "utterance score; smoothing (0.3-1 s) reads better.",
        "zh": "分类头是在整句平均特征上训练的：单帧得分比整句得分噪声更大，建议使用 0.3-1 秒平滑。",
    },
    "json": {"en": "Result JSON", "zh": "结果 JSON"},
    "downloads": {
        "en": "Downloads (result.json, embedding.npy)",
        "zh": "下载（result.json、embedding.npy）",
    },
    "log": {"en": "Processing log", "zh": "处理日志"},
    "confidence": {"en": "confidence", "zh": "置信度"},
    "score_axis": {"en": "score", "zh": "得分"},
    "time_axis": {"en": "time (s)", "zh": "时间（秒）"},
    "emotion_axis": {"en": "emotion", "zh": "情感"},
    "demo_banner": {
        "en": "⚠️ Demo model: random weights. These predictions are random and mean nothing. "
        "Start without --demo to use emotion2vec+ large.",
        "zh": "⚠️ 演示模型：随机权重，预测结果是随机的，没有任何意义。去掉 --demo 启动即可使用 emotion2vec+ large。",
    },
    "state_loading": {"en": "⏳ Loading model", "zh": "⏳ 模型加载中"},
    "state_ready": {"en": "✅ Model ready", "zh": "✅ 模型已就绪"},
    "state_failed": {"en": "❌ Model failed to load", "zh": "❌ 模型加载失败"},
    "failed_hint": {
        "en": "Fix the cause above and restart; or start with --demo to try the app.",
        "zh": "请根据上面的原因修复后重启；或使用 --demo 启动以试用。",
    },
    "retry": {"en": "🔄 Retry loading the model", "zh": "🔄 重新加载模型"},
    "no_audio": {
        "en": "Upload or record audio first.",
        "zh": "请先上传或录制音频。",
    },
    "frames_in_file": {"en": "frames: see result.json", "zh": "帧级数据见 result.json"},
}

STATE_KEYS = {"loading": "state_loading", "ready": "state_ready", "failed": "state_failed"}


def t(key: str, lang: str) -> str:
    """The string for `key` in `lang`, English when unknown."""
    entry = TEXT[key]
    return entry.get(lang) or entry["en"]


def browser_language(accept_language: str | None) -> str:
    """'zh' for any Chinese locale first in the list, else 'en'."""
    first = (accept_language or "").split(",")[0].strip().lower()
    return "zh" if first.startswith("zh") else "en"
