"""Markdown for one benchmark run: the two paths side by side, with ratios."""

from __future__ import annotations

from parity import max_abs_diff

# Issue 14's targets for one H100/H200 and the full-size checkpoint.
READY_AFTER_TORCH_S = 1.0
CLIP_8S_S = 0.004
X_REAL_TIME = 10_000
ONE_STREAM_VRAM_GB = 0.8
FLOAT16_PROB_DIFF = 1e-2


def _s(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _ratio(baseline: float | None, ours: float | None, higher_is_better: bool = False) -> str:
    if not baseline or not ours:
        return ""
    ratio = ours / baseline if higher_is_better else baseline / ours
    return f"{ratio:.1f}x"


def _row(label: str, baseline: float | None, ours: float | None, fmt=_s, better=False) -> str:
    return f"| {label} | {fmt(baseline)} | {fmt(ours)} | {_ratio(baseline, ours, better)} |"


def render(report: dict) -> str:
    cases, ui = report["cases"], report["ui"]
    base, ours = cases["funasr_warm"], cases["engine_warm"]
    gb = lambda v: "n/a" if v is None else f"{v:.2f} GB"  # noqa: E731
    xrt = lambda v: f"{v:,.0f}x real time"  # noqa: E731
    mb = lambda v: f"{v:,.1f} MB"  # noqa: E731
    lines = [
        f"### {report['model']}: {report['date']}",
        "",
        f"Machine: {report['machine']}"
        + (f", GPU {report['gpu']}" if report["gpu"] else "")
        + f"; engine on {ours['device']} in {ours['precision']}. Each case ran in a fresh "
        f"process. Cold page cache: {report['cold_cache_method']}.",
        "",
        "| metric | FunASR AutoModel path | this engine | ratio |",
        "|---|---|---|---|",
        _row("time to UI (HTTP 200 on /)", ui["funasr"].get("page_s"), ui["engine"].get("page_s")),
        _row("time to model ready in the UI server", ui["funasr"].get("ready_s"),
             ui["engine"].get("ready_s")),
        _row("time to model ready, page cache warm", base["ready_s"], ours["ready_s"]),
        _row("time to model ready, page cache cold", cases["funasr_cold"]["ready_s"],
             cases["engine_cold"]["ready_s"]),
        _row("peak RSS at ready", base["rss_at_ready_gb"], ours["rss_at_ready_gb"], gb),
        _row("peak RSS after all the requests below", base["peak_rss_gb"], ours["peak_rss_gb"],
             gb),
        _row("first request after ready (8 s clip)", base["first_request_8s_s"],
             ours["first_request_8s_s"]),
    ]  # fmt: skip
    for seconds, value in ours["steady_s"].items():
        lines.append(_row(f"steady latency, {seconds} s clip", base["steady_s"][seconds], value))
    lines += [
        _row(f"batched throughput, {ours['batch']} x 8 s clips", base["throughput_x_realtime"],
             ours["throughput_x_realtime"], xrt, better=True),
        _row("peak VRAM", base.get("peak_vram_gb"), ours.get("peak_vram_gb"), gb),
    ]  # fmt: skip
    first_ratio = ours["first_request_8s_s"] / ours["steady_s"]["8"]
    lines += ["", f"First request / steady (8 s clip), this engine: {first_ratio:.2f}x."]
    if "engine_int8" in cases:
        int8, deviation = cases["engine_int8"], report["int8"]
        lines += [
            "",
            "| CPU int8 (`--dtype int8`) | float32 | int8 | ratio |",
            "|---|---|---|---|",
            _row("time to model ready", ours["ready_s"], int8["ready_s"]),
            _row("steady latency, 8 s clip", ours["steady_s"]["8"], int8["steady_s"]["8"]),
            _row("peak RSS at ready", ours["rss_at_ready_gb"], int8["rss_at_ready_gb"], gb),
            _row("weights in memory", deviation["float32_mb"], deviation["int8_mb"], mb),
            "",
            f"int8 vs float32 over {deviation['clips']} clips (espeak-ng speech and noise): "
            f"max probability difference {deviation['max_prob_diff']:.4f} "
            f"(mean of per-clip maxima {deviation['mean_max_prob_diff']:.4f}), "
            f"top-1 agreement {deviation['top1_agreement']:.0%}.",
        ]
    if report["gpu"]:
        lines += ["", *render_targets(report)]
    return "\n".join(lines) + "\n"


def _target(label: str, value: float | None, shown: str, limit: float, at_least=False) -> str:
    if value is None:
        return f"| {label} | not measured | **missed** |"
    met = value >= limit if at_least else value <= limit
    return f"| {label} | {shown} | {'met' if met else '**missed**'} |"


def render_targets(report: dict) -> list[str]:
    """This engine's warm case on the GPU against issue 14's targets."""
    cases = report["cases"]
    ours, funasr = cases["engine_warm"], cases["funasr_warm"]
    after_torch = ours["ready_s"] - ours["torch_imported_s"]
    clip_s, xrt = ours["steady_s"]["8"], ours["throughput_x_realtime"]
    vram = ours.get("peak_vram_one_8s_gb")
    fp32 = cases.get("engine_float32")
    diff = fp32 and max_abs_diff(fp32["parity"]["single"], ours["parity"]["single"])
    precision = ours["precision"]
    return [
        f"| target (issue 14, {report['gpu']}) | measured | |",
        "|---|---|---|",
        _target(f"model ready <= {READY_AFTER_TORCH_S:g} s after `import torch` finishes",
                after_torch, _s(after_torch), READY_AFTER_TORCH_S),
        _target(f"one 8 s clip at batch 1 <= {CLIP_8S_S * 1000:g} ms ({precision})", clip_s,
                f"{clip_s * 1000:.2f} ms", CLIP_8S_S),
        _target(f">= {X_REAL_TIME:,}x real time in padded batches ({ours['batch']} x 8 s)", xrt,
                f"{xrt:,.0f}x", X_REAL_TIME, at_least=True),
        _target(f"peak VRAM for one stream <= {ONE_STREAM_VRAM_GB:g} GB (model + one 8 s clip)",
                vram, f"{vram or 0:.2f} GB", ONE_STREAM_VRAM_GB),
        _target(f"{precision} probabilities within {FLOAT16_PROB_DIFF:g} of float32", diff,
                f"{diff or 0:.1e}", FLOAT16_PROB_DIFF),
        f"| the FunASR path side by side, same run | ready {_s(funasr['ready_s'])}, 8 s clip "
        f"{_s(funasr['steady_s']['8'])}, {funasr['throughput_x_realtime']:,.0f}x real time, "
        f"peak VRAM {funasr.get('peak_vram_gb') or 0:.2f} GB | measured |",
    ]  # fmt: skip
