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
        "en": "Downloads (result.json, frames.csv, embedding.npy, segments.csv / .json)",
        "zh": "下载（result.json、frames.csv、embedding.npy、segments.csv / .json）",
    },
    "log": {"en": "Processing log", "zh": "处理日志"},
    "confidence": {"en": "confidence", "zh": "置信度"},
    "score_axis": {"en": "score", "zh": "得分"},
    "time_axis": {"en": "time (s)", "zh": "时间（秒）"},
    "emotion_axis": {"en": "emotion", "zh": "情感"},
    "demo_banner": {
        "en": "⚠️ Demo model: random weights. These predictions are random and mean nothing. "
        "Start (or deploy with ray-serve) without --demo to use emotion2vec+ large.",
        "zh": "⚠️ 演示模型：随机权重，预测结果是随机的，没有任何意义。去掉 --demo 启动（或用 ray-serve 部署）即可使用 emotion2vec+ large。",
    },
    # The status line: the model, the device and the seconds, in words.
    "status_loading": {
        "en": "⏳ Loading {model} on {device}… {seconds} s",
        "zh": "⏳ 正在加载 {model}（{device}）… {seconds} 秒",
    },
    "status_ready": {
        "en": "✅ Model ready: {model} on {device} ({dtype})",
        "zh": "✅ 模型已就绪：{model}（{device}，{dtype}）",
    },
    "status_loaded_in": {"en": ", loaded in {seconds} s", "zh": "，加载用时 {seconds} 秒"},
    "status_failed": {
        "en": "❌ Model failed to load: {model} on {device}",
        "zh": "❌ 模型加载失败：{model}（{device}）",
    },
    "model_demo": {"en": "the demo model (random weights)", "zh": "随机权重的演示模型"},
    "device_auto": {"en": "the best available device", "zh": "最佳可用设备"},
    "failed_hint": {
        "en": "Fix the cause above and restart; or start with --demo to try the app.",
        "zh": "请根据上面的原因修复后重启；或使用 --demo 启动以试用。",
    },
    "retry": {"en": "🔄 Retry loading the model", "zh": "🔄 重新加载模型"},
    # The same states when the model runs on a Ray Serve backend (serve --backend URL).
    "retry_backend": {"en": "🔄 Check the backend again", "zh": "🔄 重新连接后端"},
    "state_loading_backend": {"en": "⏳ Waiting for the model backend", "zh": "⏳ 等待模型后端"},
    "state_ready_backend": {"en": "✅ Model backend ready", "zh": "✅ 模型后端已就绪"},
    "state_failed_backend": {"en": "❌ Model backend not reachable", "zh": "❌ 无法连接模型后端"},
    "failed_hint_backend": {
        "en": "Analysis resumes by itself as soon as the backend answers again; Retry gives a "
        "backend that never answered another 10 minutes.",
        "zh": "后端恢复响应后即可自动继续分析；对从未响应的后端，点击重试可再等待 10 分钟。",
    },
    "no_audio": {
        "en": "Upload or record audio first.",
        "zh": "请先上传或录制音频。",
    },
    "frames_in_file": {"en": "frames: see result.json", "zh": "帧级数据见 result.json"},
    "segments_in_file": {
        "en": "segments: see the table, segments.csv and result.json",
        "zh": "分段结果见表格、segments.csv 和 result.json",
    },
    "tab_single": {"en": "🎧 One recording", "zh": "🎧 单个录音"},
    "tab_batch": {"en": "📂 Batch", "zh": "📂 批量分析"},
    "segmentation": {"en": "Long recordings: segmentation", "zh": "长录音：分段方式"},
    "seg_auto": {"en": "Auto (over 30 s: by speech)", "zh": "自动（超过 30 秒按语音分段）"},
    "seg_off": {"en": "Off (one pass, at most 60 s)", "zh": "不分段（一次处理，最长 60 秒）"},
    "seg_vad": {"en": "Speech segments (VAD)", "zh": "按语音分段（VAD）"},
    "seg_fixed": {"en": "Fixed 10 s windows", "zh": "固定 10 秒窗口"},
    "long_note": {
        "en": "Long recordings (calls, sessions: up to 3 hours) are cut at pauses into speech "
        "segments of at most 20 s; each segment gets its own emotion.",
        "zh": "长录音（通话、咨询，最长 3 小时）会在停顿处切分为最长 20 秒的语音片段，每个片段单独识别情感。",
    },
    "long_view": {"en": "Emotion timeline (segments)", "zh": "情感时间线（分段）"},
    "summary": {
        "en": "**{segments} segments** · speech {speech} of {duration} · cut by {method}  \n"
        "Dominant: **{dominant}** · top: {top} · emotion changes: {changes}",
        "zh": "**{segments} 个片段** · 语音 {speech} / 总长 {duration} · 分段方式 {method}  \n"
        "主要情感：**{dominant}** · 前三：{top} · 情感变化：{changes} 次",
    },
    "segment_scores": {"en": "Scores per segment", "zh": "各片段情感得分"},
    "segment_table": {"en": "Segments", "zh": "片段列表"},
    "col_start": {"en": "start", "zh": "开始"},
    "col_end": {"en": "end", "zh": "结束"},
    "col_emotion": {"en": "emotion", "zh": "情感"},
    "col_confidence": {"en": "confidence", "zh": "置信度"},
    "col_file": {"en": "file", "zh": "文件"},
    "col_duration": {"en": "duration (s)", "zh": "时长（秒）"},
    "col_segments": {"en": "segments", "zh": "片段数"},
    "col_error": {"en": "error", "zh": "错误"},
    "batch_files": {"en": "Audio files (drop many at once)", "zh": "音频文件（可一次拖入多个）"},
    "analyze_all": {"en": "Analyze all", "zh": "全部分析"},
    "batch_table": {"en": "Results", "zh": "结果"},
    "batch_downloads": {
        "en": "Downloads (results.csv, runs.zip)",
        "zh": "下载（results.csv、runs.zip）",
    },
    "batch_json": {"en": "Results JSON", "zh": "结果 JSON"},
    "no_files": {"en": "Add audio files first.", "zh": "请先添加音频文件。"},
    "too_many_files": {
        "en": "{count} files is more than the {limit} one batch takes: split them, or use the "
        "CLI (emotion2vec-app predict FOLDER).",
        "zh": "{count} 个文件超过单批上限 {limit} 个：请分批上传，或使用命令行（emotion2vec-app predict 文件夹）。",
    },
    "starting": {"en": "Starting", "zh": "开始"},
    "result_for": {"en": "Result for {name}", "zh": "{name} 的结果"},
    "no_speech": {"en": "No speech found", "zh": "未检测到语音"},
    "no_speech_hint": {
        "en": "The recording is silent, so there is no emotion to read: the scores describe "
        "noise. Check the microphone or the file and try again.",
        "zh": "录音是静音的，无法识别情感：得分描述的只是噪声。请检查麦克风或文件后重试。",
    },
    "warnings": {"en": "Read with care", "zh": "请注意"},
    "error_title": {"en": "Could not analyse {name}", "zh": "无法分析 {name}"},
    "error_no_file": {"en": "Nothing to analyse", "zh": "没有可分析的音频"},
    "error_hint": {
        "en": "No result is shown for this file. Fix the cause above, or choose another file.",
        "zh": "此文件没有结果。请按上面的原因处理，或换一个文件。",
    },
    "batch_failed": {"en": "{failed} of {total} failed", "zh": "{total} 个文件中 {failed} 个失败"},
    # The processing log, line by line.
    "log_file": {
        "en": "file: {name} ({format}, {rate} Hz, {channels} ch, {duration} s)",
        "zh": "文件：{name}（{format}，{rate} Hz，{channels} 声道，{duration} 秒）",
    },
    "log_segments": {"en": "segments: {count} ({method})", "zh": "片段：{count} 个（{method}）"},
    "log_model": {
        "en": "model: {model} on {device} ({dtype})",
        "zh": "模型：{model}（{device}，{dtype}）",
    },
    "log_run": {"en": "run: {run} · downloads: {files}", "zh": "运行编号：{run} · 下载：{files}"},
    "log_no_run": {
        "en": "run folder: not written (see the warning)",
        "zh": "运行文件夹：未写入（见警告）",
    },
    "log_warning": {"en": "warning: {warning}", "zh": "警告：{warning}"},
    "step_decode": {"en": "decode", "zh": "解码"},
    "step_inference": {"en": "inference", "zh": "推理"},
    "step_segment": {"en": "segmentation", "zh": "分段"},
    "step_transfer": {"en": "transfer", "zh": "传输"},
    "step_total": {"en": "total", "zh": "总计"},
    # Progress, as the core words it (English) and as the page shows it.
    "progress_finding_speech": {"en": "Finding speech", "zh": "正在查找语音"},
    "progress_segment": {"en": "Segment", "zh": "片段"},
    "progress_backend": {
        "en": "Analysing on the Ray Serve backend",
        "zh": "正在 Ray Serve 后端分析",
    },
    "progress_analysing": {"en": "Analysing", "zh": "正在分析"},
    "error_toast": {"en": "Error", "zh": "错误"},
    "play_hint": {
        "en": "▶ Click a segment (strip or table) to play it",
        "zh": "▶ 点击片段（色条或表格）即可播放",
    },
    "code": {
        "en": "Use this analysis from code (Python client / API)",
        "zh": "用代码调用本次分析（Python 客户端 / API）",
    },
    "demo_badge": {"en": "demo model: random", "zh": "演示模型：随机结果"},
    "batch_all_done": {"en": "All {total} analysed", "zh": "{total} 个文件全部分析完成"},
}


def t(key: str, lang: str) -> str:
    """The string for `key` in `lang`, English when unknown."""
    entry = TEXT[key]
    return entry.get(lang) or entry["en"]


def progress_words(message: str, lang: str) -> str:
    """The core's English progress message in `lang`: its known phrases reworded."""
    for key in ("progress_finding_speech", "progress_segment", "progress_backend"):
        message = message.replace(TEXT[key]["en"], t(key, lang))
    return message


def browser_language(accept_language: str | None) -> str:
    """'zh' for any Chinese locale first in the list, else 'en'."""
    first = (accept_language or "").split(",")[0].strip().lower()
    return "zh" if first.startswith("zh") else "en"
