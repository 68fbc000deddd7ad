"""Stereo calls in the WebUI (issue 16, items 5 and 7): the Channels option, a strip, a chart
and audio per speaker, and /analyze_batch with channels "split". Headless Chromium against
the real Gradio app in this process; screenshots in test-artifacts/browser/stereo-*.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_harness import DESKTOP, PHONE, analyze_clip, pages_of, screenshot, serving
from test_stereo import call, voices, write  # noqa: F401 (voices: a fixture, used by name)

from emotion2vec_app.ui.render import batch_frame
from emotion2vec_app.ui.text import t

NAMES = ("agent", "customer")
STRIP = "#segment-strip"


@pytest.fixture(scope="module")
def app(engine, tmp_path_factory):
    outputs = tmp_path_factory.mktemp("outputs")
    with serving(engine, outputs) as url:
        yield url, outputs


@pytest.fixture(scope="module")
def stereo_call(voices, tmp_path_factory) -> Path:  # noqa: F811 (the imported fixture)
    """The agent on the left at 0-10 s, the customer on the right at 12-22 s, each leaking
    into the other's side 30 dB down."""
    agent, customer = voices
    folder = tmp_path_factory.mktemp("stereo")
    return write(folder / "stereo-call.wav", call([(0.0, agent)], [(12.0, customer)], 24.0))


@pytest.fixture
def open_page(browser, app):
    with pages_of(browser, app[0]) as make:
        yield make


def choose_split(page, names: str = ",".join(NAMES), prefix: str = "") -> None:
    """Open the advanced options and split the channels under `names`."""
    if not page.locator(f"#{prefix}channels").is_visible():
        page.click(f"#{prefix}advanced button.label-wrap, #{prefix}advanced > button")
    page.locator(f"#{prefix}channels input[value=split]").check()
    page.fill(f"#{prefix}channel-names textarea, #{prefix}channel-names input", names)


def lane_names(page) -> list[str]:
    return page.evaluate(
        "s => [...document.querySelectorAll(s + ' .e2v-lane')].map((l) => l.dataset.name)", STRIP
    )


def table_column(page, header: str) -> list[str]:
    """A column of the segment table, by its header's words."""
    return page.evaluate(
        """header => {
          const table = document.querySelector('#segment-table');
          const heads = [...table.querySelectorAll('[role=columnheader]')]
            .map((cell) => cell.innerText.trim());
          const at = heads.indexOf(header);
          return [...table.querySelectorAll('[role=row][data-index]')].map(
            (row) => row.querySelectorAll('[role=gridcell]')[at]?.innerText.trim());
        }""",
        header,
    )


def no_side_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def analyze_split(page, clip: Path) -> None:
    choose_split(page)
    analyze_clip(page, clip)
    page.wait_for_selector(f"{STRIP} .e2v-lane[data-name=customer] .e2v-seg")


def test_a_split_call_shows_each_speaker_and_plays_their_channel(open_page, stereo_call):
    page = open_page()
    analyze_split(page, stereo_call)
    assert lane_names(page) == list(NAMES), "a strip per channel, in channel order, named"
    assert page.locator(f"{STRIP} .e2v-strip-axis").count() == 1, "one time axis"
    assert page.locator(f"{STRIP} .e2v-lane[data-name=agent] .e2v-seg").count() >= 1
    assert set(table_column(page, t("col_channel", "en"))) == set(NAMES)
    summary = page.inner_text("#segment-summary")
    assert "agent 0:" in summary and "customer 0:" in summary, summary
    assert t("summary_talk", "en").split("{")[0].strip() in summary
    assert "overlap" in summary
    plots = page.locator(".e2v-plot:visible")
    assert plots.count() == 2, "a chart per channel"
    labels = [plots.nth(i).inner_text() for i in range(2)]
    assert "agent" in labels[0] and "customer" in labels[1], labels

    block = page.locator(f"{STRIP} .e2v-lane[data-name=customer] .e2v-seg").first
    start = float(block.get_attribute("data-start"))
    assert start > 10, "the customer speaks from 12 s"
    block.click()
    page.wait_for_function(
        "start => { const p = document.querySelector('#e2v-player');"
        " return p.getAttribute('src').endsWith('channel_2_customer.wav')"
        " && Math.abs(p.currentTime - start) < 0.05; }",
        arg=start,
    )
    screenshot(page, "stereo-desktop-en")

    page.locator("#language").get_by_text("中文").click()
    page.wait_for_function(
        "text => document.querySelector('#segment-summary').innerText.includes(text)",
        arg=t("summary_talk", "zh").split("{")[0].strip(),
    )
    assert lane_names(page) == list(NAMES), "names stay as given"
    assert set(table_column(page, t("col_channel", "zh"))) == set(NAMES)
    screenshot(page, "stereo-desktop-zh")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_split_call_fits_a_phone(open_page, stereo_call, lang):
    page = open_page(locale="zh-CN" if lang == "zh" else "en-US", viewport=PHONE)
    analyze_split(page, stereo_call)
    page.wait_for_selector("#segment-plot-2 svg")
    assert no_side_scroll(page), "no horizontal page scroll at 390 px"
    screenshot(page, f"stereo-phone-{lang}")


def test_split_with_frames_is_refused_in_the_page_language(open_page, stereo_call):
    page = open_page(locale="zh-CN", viewport=DESKTOP)
    page.locator("#granularity").get_by_text(t("frame", "zh")).click()
    choose_split(page)
    page.set_input_files("#audio-input input[type=file]", str(stereo_call))
    page.wait_for_selector("#audio-input audio, #audio-input .waveform-container", state="attached")
    page.click("#analyze")
    page.wait_for_selector("#emotion-card [data-state=error]")
    assert t("split_frame", "zh") in page.inner_text("#emotion-card")


def test_analyze_batch_splits_channels_over_the_api(app, stereo_call, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(app[0], verbose=False, download_files=str(tmp_path))
    rows, files = client.predict(
        [handle_file(str(stereo_call))], "utterance", False, "auto", None, "split",
        "agent,customer", api_name="/analyze_batch",
    )  # fmt: skip
    assert len(rows) == 1 and not rows[0].get("error"), rows
    assert [c["name"] for c in rows[0]["channels"]] == list(NAMES)
    assert set(rows[0]["summary"]["talk_s"]) == set(NAMES)
    assert len(files) == 2
    # Existing calls with fewer values keep working: the channels are mixed.
    [mixed], _ = client.predict(
        [handle_file(str(stereo_call))], "utterance", False, "auto", api_name="/analyze_batch"
    )
    assert "channels" not in mixed
    assert set(rows[0]["segments"]["channel"]) == set(NAMES), "each row names its channel"
    table = batch_frame(rows, "en")  # the Batch tab's table: one row per file
    assert len(table) == 1 and table[t("col_error", "en")][0] == ""


def test_serve_channels_split_is_the_pages_and_the_apis_default(
    browser, stereo_call, tiny_model_dir, tmp_path
):
    """`serve --channels split --channel-names agent,customer`: a call-centre deployment."""
    from gradio_client import Client, handle_file
    from server_harness import running_server

    args = ("--model", str(tiny_model_dir), "--channels", "split", "--channel-names",
            "agent,customer")  # fmt: skip
    with running_server(tmp_path, *args) as server:
        client = Client(server.url, verbose=False, download_files=str(tmp_path))
        result, _ = client.predict(handle_file(str(stereo_call)), "utterance", False,
                                   api_name="/analyze")  # fmt: skip
        assert [c["name"] for c in result["channels"]] == list(NAMES)
        with pages_of(browser, server.url) as open_page:
            page = open_page()
            page.click("#advanced button.label-wrap, #advanced > button")  # folded options
            page.wait_for_selector("#channel-names textarea, #channel-names input")
            names = page.locator("#channel-names textarea, #channel-names input").first
            assert names.input_value() == "agent,customer"
            assert page.locator("#channels input[value=split]").is_checked()
