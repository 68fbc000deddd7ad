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
    "scores": {"en": "Emotion scores", "zh": "情感得分"},
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
    # The emotions scored (both analysis tabs and the Evaluate tab).
    "advanced": {"en": "Advanced options", "zh": "高级选项"},
    "emotions": {"en": "Emotions to score", "zh": "参与评分的情绪"},
    "emotions_info": {
        "en": "Scores are shared among the checked emotions only (at least two): e.g. angry, "
        "happy, neutral and sad for the papers' 4-class setup.",
        "zh": "得分只在勾选的情绪之间分配（至少两种）：例如论文中 4 类设置的生气、开心、中立和难过。",
    },
    "too_few_emotions": {
        "en": "Check at least two emotions to score: one emotion alone always scores 100%.",
        "zh": "请至少勾选两种参与评分的情绪：只有一种情绪时得分总是 100%。",
    },
    "channels": {"en": "Channels", "zh": "声道"},
    "channels_mix": {"en": "Mix (one signal)", "zh": "混合（作为一路信号）"},
    "channels_split": {"en": "Split (one speaker per channel)", "zh": "分离（每个声道一位说话人）"},
    "channels_info": {
        "en": "Split analyses each channel of a stereo call apart, cut into speech segments.",
        "zh": "分离：立体声通话的每个声道单独分析，并切分为语音片段。",
    },
    "channel_names": {"en": "Channel names", "zh": "声道名称"},
    "channel_names_placeholder": {"en": "agent, customer", "zh": "坐席, 客户"},
    "split_frame": {
        "en": "Split channels give each speaker a segment timeline: choose granularity "
        "Utterance, or channels Mix for a frame timeline.",
        "zh": "分离声道为每位说话人生成片段时间轴：请选择整句粒度，或选择混合声道以查看帧级时间轴。",
    },
    "split_segmentation": {
        "en": "Split channels cut each speaker's speech with VAD: choose segmentation Auto or VAD.",
        "zh": "分离声道使用 VAD 切分每位说话人的语音：请选择自动或 VAD 分段。",
    },
    "channel_names_bad": {
        "en": "Channel names must be distinct and non-empty, separated by commas: agent, customer.",
        "zh": "声道名称须互不相同且不为空，用逗号分隔，例如：坐席, 客户。",
    },
    "col_channel": {"en": "channel", "zh": "声道"},
    "channel_no_speech": {"en": "no speech on this channel", "zh": "该声道没有语音"},
    "summary_talk": {
        "en": "Talk time: {talk} · overlap {overlap}",
        "zh": "说话时长：{talk} · 重叠 {overlap}",
    },
    "summary_channel_changes": {
        "en": "Emotion changes: {changes}",
        "zh": "情感变化：{changes}",
    },
    "changes_count": {"en": "{name} {count}", "zh": "{name} {count} 次"},
    # The Evaluate tab.
    "tab_evaluate": {"en": "📊 Evaluate", "zh": "📊 评估"},
    "eval_intro": {
        "en": "Measure the model on your own labelled recordings: WA, UA, macro-F1, the "
        "confusion matrix and every misclassified file; optionally train a head of your own. "
        "Upload one .zip of class folders (angry/a.wav, happy/b.wav), or the audio files plus "
        "one .csv/.tsv manifest of path,label rows.",
        "zh": "用您自己的带标签录音评估模型：WA、UA、宏平均 F1、混淆矩阵以及每个分错的文件；还可以训练您自己的分类头。请上传一个按类别分文件夹的 .zip（angry/a.wav、happy/b.wav），或音频文件加一个 path,label 格式的 .csv/.tsv 清单。",
    },
    "eval_files": {
        "en": "Labelled audio: a .zip, or audio files + manifest",
        "zh": "带标签的音频：.zip，或音频文件加清单",
    },
    "label_map": {"en": "Label map", "zh": "标签映射"},
    "label_map_placeholder": {
        "en": "iemocap, or ang=angry,exc=happy",
        "zh": "iemocap，或 ang=angry,exc=happy",
    },
    "label_map_info": {
        "en": "The dataset's labels as the classes scored: a built-in map (iemocap, ravdess, "
        "crema-d) or pairs; 'fru=' drops a label; separate several maps with ;. Empty: the "
        "labels are the class names.",
        "zh": "把数据集的标签对应到评分的类别：内置映射（iemocap、ravdess、crema-d）或成对写法；'fru=' 表示丢弃该标签；多个映射用 ; 分隔。留空表示标签就是类别名。",
    },
    "train_head": {
        "en": "Train a head too (cross-validated logistic regression)",
        "zh": "同时训练分类头（交叉验证的逻辑回归）",
    },
    "folds": {"en": "Cross-validation folds", "zh": "交叉验证折数"},
    "run_eval": {"en": "Run evaluation", "zh": "开始评估"},
    "eval_title": {"en": "{n} files evaluated", "zh": "已评估 {n} 个文件"},
    "eval_demo_note": {
        "en": "⚠️ Demo model, random weights: these numbers mean nothing about emotion.",
        "zh": "⚠️ 演示模型，随机权重：这些数字与情感毫无关系。",
    },
    "metric_wa": {"en": "WA (accuracy)", "zh": "WA（准确率）"},
    "metric_ua": {"en": "UA (mean recall)", "zh": "UA（平均召回率）"},
    "metric_f1": {"en": "macro-F1", "zh": "宏平均 F1"},
    "col_class": {"en": "class", "zh": "类别"},
    "col_precision": {"en": "precision", "zh": "精确率"},
    "col_recall": {"en": "recall", "zh": "召回率"},
    "col_f1": {"en": "F1", "zh": "F1"},
    "col_support": {"en": "files", "zh": "文件数"},
    "col_true": {"en": "true", "zh": "真实"},
    "col_predicted": {"en": "predicted", "zh": "预测"},
    "cv_title": {
        "en": "Trained head: {folds}-fold cross-validated on {n} files",
        "zh": "训练的分类头：在 {n} 个文件上 {folds} 折交叉验证",
    },
    "cv_use": {
        "en": "Download head.safetensors and serve it with --head head.safetensors.",
        "zh": "下载 head.safetensors，启动时加 --head head.safetensors 即可使用。",
    },
    "confusion": {
        "en": "Confusion matrix (rows: true, columns: predicted)",
        "zh": "混淆矩阵（行：真实类别，列：预测类别）",
    },
    "misclassified": {"en": "Misclassified files", "zh": "分错的文件"},
    "none_misclassified": {"en": "✅ No file misclassified.", "zh": "✅ 没有分错的文件。"},
    "skipped": {"en": "{count} left out", "zh": "{count} 项未参与评估"},
    "eval_downloads": {
        "en": "Downloads (metrics.json, per_class.csv, confusion.csv/.png, predictions.csv, "
        "misclassified.csv; when trained, head.safetensors and its cv_ files)",
        "zh": "下载（metrics.json、per_class.csv、confusion.csv/.png、predictions.csv、misclassified.csv；训练时另有 head.safetensors 及其 cv_ 文件）",
    },
    "eval_json": {"en": "Metrics JSON", "zh": "指标 JSON"},
    "eval_no_files": {
        "en": "Add labelled audio first: one .zip of class folders, or audio files plus one "
        ".csv/.tsv manifest.",
        "zh": "请先添加带标签的音频：一个按类别分文件夹的 .zip，或音频文件加一个 .csv/.tsv 清单。",
    },
    "eval_no_manifest": {
        "en": "Which label has each file? Upload one .zip of class folders (angry/a.wav, "
        "happy/b.wav), or the audio files plus one .csv/.tsv manifest of path,label rows.",
        "zh": "无法得知每个文件的标签：请上传一个按类别分文件夹的 .zip（angry/a.wav、happy/b.wav），或音频文件加一个 path,label 格式的 .csv/.tsv 清单。",
    },
    "eval_many_manifests": {
        "en": "Upload one manifest, not {count}: {names}.",
        "zh": "请只上传一个清单，而不是 {count} 个：{names}。",
    },
    "eval_zip_alone": {
        "en": "Upload the .zip alone: its class folders are the labels (found {count} files).",
        "zh": "请单独上传 .zip：它的类别文件夹就是标签（现有 {count} 个文件）。",
    },
    "eval_same_names": {
        "en": "Several uploaded files are named {names}: the manifest finds files by name, so "
        "give each a name of its own, or upload a .zip of class folders.",
        "zh": "多个上传的文件同名（{names}）：清单按文件名查找文件，请给每个文件起不同的名字，或上传按类别分文件夹的 .zip。",
    },
    "eval_zip_too_big": {
        "en": "The .zip unpacks to more than {limit_gb} GB: evaluate a part of it here, or the "
        "whole set with the CLI (emotion2vec-app evaluate FOLDER).",
        "zh": "该 .zip 解压后超过 {limit_gb} GB：请在此评估其中一部分，或用命令行评估整个数据集（emotion2vec-app evaluate 文件夹）。",
    },
    "eval_bad_zip": {
        "en": "{name} cannot be unpacked ({reason}): upload a plain, unencrypted .zip.",
        "zh": "无法解压 {name}（{reason}）：请上传普通、未加密的 .zip。",
    },
    "eval_map_file": {
        "en": "A label map file cannot be named here: write its pairs (ang=angry,hap=happy) or "
        "a built-in name ({names}).",
        "zh": "此处不能指定标签映射文件：请写成对映射（ang=angry,hap=happy）或内置名称（{names}）。",
    },
    "progress_training": {"en": "Training the head", "zh": "正在训练分类头"},
    # The Live tab.
    "tab_live": {"en": "🔴 Live", "zh": "🔴 实时"},
    "live_intro": {
        "en": "Speak into the microphone: at every hop the last few seconds are scored as one "
        "utterance, so the emotion follows what is said now. Stop analyses the whole recording "
        "as usual: run folder, segments, downloads.",
        "zh": "对着麦克风说话：每个步长都会把最近几秒作为一句话打分，情感随此刻所说的内容更新。点击停止后，整段录音会像平常一样分析：运行文件夹、分段结果和下载文件。",
    },
    "live_audio": {"en": "Microphone (live)", "zh": "麦克风（实时）"},
    "live_window": {
        "en": "Window (s): the recent audio each update scores",
        "zh": "窗口（秒）：每次更新评分的最近音频",
    },
    "live_hop": {"en": "Hop (s): how often it updates", "zh": "步长（秒）：多久更新一次"},
    "live_settings": {
        "en": "Each update scores the last {window} s, one every {hop} s (from the next recording on).",
        "zh": "每次更新对最近 {window} 秒打分，每 {hop} 秒一次（从下一次录音开始生效）。",
    },
    "live_bad_settings": {
        "en": "These window and hop cannot be used: {reason}.",
        "zh": "该窗口和步长无法使用：{reason}。",
    },
    "live_idle": {"en": "Not recording", "zh": "未在录音"},
    "live_idle_hint": {
        "en": "Press Record and speak: the emotion of the last few seconds shows here at every hop.",
        "zh": "点击录音并说话：最近几秒的情感会在每个步长显示在这里。",
    },
    "live_listening": {"en": "Listening…", "zh": "正在聆听…"},
    "live_listening_hint": {
        "en": "The first update comes once {window} s are recorded.",
        "zh": "录满 {window} 秒后给出第一次结果。",
    },
    "live_window_title": {
        "en": "Last {window} s, up to {time}",
        "zh": "最近 {window} 秒（截至 {time}）",
    },
    "live_no_speech_hint": {
        "en": "Nobody speaks in these seconds: silence gets no emotion.",
        "zh": "这几秒没有人说话：静音不显示情感。",
    },
    "live_error_title": {"en": "Live updates stopped", "zh": "实时更新已停止"},
    "live_error_hint": {
        "en": "What was recorded so far is kept: press Stop to analyse it.",
        "zh": "已录制的部分会保留：点击停止即可分析。",
    },
    "live_too_long": {
        "en": "The recording reached the {minutes}-minute limit of a live session.",
        "zh": "录音已达到实时会话 {minutes} 分钟的上限。",
    },
    "live_audio_error": {
        "en": "The microphone's audio could not be used: {reason}",
        "zh": "麦克风的音频无法使用：{reason}",
    },
    "live_stream_error": {"en": "Scoring failed: {reason}", "zh": "评分失败：{reason}"},
    "live_stats": {
        "en": "{updates} updates · one every {every} s (hop {hop} s) · latency p50 {p50} ms, "
        "p95 {p95} ms · {skipped} windows skipped",
        "zh": "{updates} 次更新 · 每 {every} 秒一次（步长 {hop} 秒）· 延迟 p50 {p50} 毫秒，p95 {p95} 毫秒 · 跳过 {skipped} 个窗口",
    },
    "live_skipped_hint": {
        "en": "When scoring is slower than the hop, windows are skipped to stay current.",
        "zh": "评分慢于步长时会跳过窗口，以保持实时。",
    },
    "live_plot": {"en": "Scores, last 60 s", "zh": "最近 60 秒的情感得分"},
    "live_result": {"en": "### The whole recording (after Stop)", "zh": "### 整段录音（停止后）"},
    "live_open_result": {
        "en": "See the whole analysis in 🎧 One recording",
        "zh": "在 🎧 单个录音 中查看完整分析",
    },
    "live_nothing": {
        "en": "Nothing was recorded: press Record, speak, then Stop.",
        "zh": "没有录到音频：请点击录音并说话，然后点击停止。",
    },
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
