"""The page's own styles and script: what launch() needs to show the page as designed."""

from __future__ import annotations

from emotion2vec_app.files import AUDIO_SUFFIXES

CSS = """
.e2v-card {display:flex; align-items:center; gap:1rem; padding:0.8rem 1rem;
  border-radius:12px; border-left:8px solid var(--e2v-colour, #999);
  background:var(--block-background-fill);}
.e2v-emoji {font-size:3rem; line-height:1;}
.e2v-label {font-size:1.5rem; font-weight:600;}
.e2v-status {padding:0.5rem 0.8rem; border-radius:8px; background:var(--block-background-fill);}
.e2v-status[data-state=failed] {color:#c0392b;}
.e2v-banner {padding:0.6rem 1rem; border-radius:8px; background:#fff3cd; color:#664d03;
  font-weight:600;}
.e2v-strip {position:relative; height:28px; border-radius:6px; overflow:hidden;
  background:var(--block-background-fill); border:1px solid var(--border-color-primary);}
.e2v-seg {position:absolute; top:0; bottom:0; min-width:1px;}
.e2v-strip-axis {display:flex; justify-content:space-between; font-size:0.8rem; opacity:0.7;}
/* A split call: a strip per channel, its name above it, all on the axis below the last. */
.e2v-lane + .e2v-lane {margin-top:0.4rem;}
.e2v-lane-name {display:flex; flex-wrap:wrap; gap:0 0.6rem; font-size:0.85rem;
  overflow-wrap:anywhere;}
.e2v-lane-note {opacity:0.7; font-style:italic;}
.e2v-legend {display:inline-block; margin-right:0.8rem; padding-left:0.3rem;
  border-left:12px solid var(--e2v-colour);}
/* A gr.Group sets its children's border to none, but a plot's inline border-style: solid
   brings back a 3px border in the text colour: give it no width. */
.e2v-plot {border-width:0;}
#segment-summary {padding:0.4rem 0.8rem;}
.e2v-card > div:last-child {min-width:0; overflow-wrap:anywhere;}
.e2v-file {font-size:0.9rem; opacity:0.75;}
.e2v-warnings {margin-top:0.4rem; color:#8a5a00;}
.e2v-warnings ul, .e2v-batch-summary ul {margin:0.2rem 0 0 1.2rem; padding:0; list-style:disc;}
.e2v-reason {font-weight:600; margin:0.3rem 0;}
.e2v-batch-summary {padding:0.5rem 0.8rem; border-radius:8px; overflow-wrap:anywhere;
  background:var(--block-background-fill); border-left:6px solid #27ae60;}
.e2v-batch-summary[data-failed] {border-left-color:#c0392b;}
/* Emoji in colour. Linux's DejaVu Sans draws them as black outlines, so where emoji show, a
   face of the colour emoji fonts for emoji code points only comes first (letters keep the
   page's font; charts.FONT names it too). With no colour emoji font, EMOJI_JS marks the page
   e2v-no-colour-emoji and each emoji becomes a dot in its emotion's colour. */
@font-face {font-family:"E2V Emoji"; src:local("Noto Color Emoji"), local("NotoColorEmoji"),
  local("Apple Color Emoji"), local("AppleColorEmoji"), local("Segoe UI Emoji"),
  local("SegoeUIEmoji"), local("Twemoji Mozilla");
  unicode-range:U+200D, U+20E3, U+2194-21AA, U+231A-23FF, U+24C2, U+25AA-25FE, U+2600-27BF,
    U+2934-2935, U+2B05-2B55, U+3030, U+303D, U+3297, U+3299, U+FE0F, U+1F000-1FAFF;}
.e2v-card, .e2v-bars, .e2v-legend, #segment-summary {font-family:"E2V Emoji", var(--font);}
/* Tables in the page's font (narrower than Gradio's monospace), emoji in colour. */
#segment-table, #batch-table {--font-mono:"E2V Emoji", var(--font);}
/* (!important: gradio adds a copy of each rule scoped under .gradio-container, which beats
   these, and those scoped copies of these cannot match the page's root.) */
.e2v-no-colour-emoji .e2v-emoji {flex:none; width:3rem; height:3rem; border-radius:50%;
  font-size:0 !important; background:var(--e2v-colour);}
.e2v-no-colour-emoji .e2v-emo {display:inline-block; width:0.75rem; height:0.75rem;
  border-radius:50%; font-size:0 !important; vertical-align:middle;
  background:var(--e2v-colour);}
/* The score bars: a grid of name, bar and percentage, so labels cannot collide. */
.e2v-bars {padding:0.6rem 0.8rem; border-radius:var(--block-radius, 8px);
  border:1px solid var(--border-color-primary); background:var(--block-background-fill);}
.e2v-bars-title {font-weight:600; margin-bottom:0.5rem;}
.e2v-bar-rows {display:grid; gap:0.3rem 0.6rem; align-items:center;
  grid-template-columns:fit-content(45%) minmax(3rem, 1fr) max-content;}
.e2v-bar {display:contents;}
.e2v-bar-name {overflow-wrap:anywhere;}
.e2v-bar-track {height:0.75rem; border-radius:4px; overflow:hidden;
  background:var(--border-color-primary);}
.e2v-bar-fill {display:block; height:100%; background:var(--e2v-colour);}
.e2v-bar-value {text-align:right; font-variant-numeric:tabular-nums;}
/* The charts (gr.Plot of charts.py's specs): as wide as their block, text in the theme's. */
#timeline .altair > div, .e2v-plot .altair > div {width:100%;}
#timeline svg text, .e2v-plot svg text {fill:var(--body-text-color);}
#timeline .role-axis-grid line, .e2v-plot .role-axis-grid line {
  stroke:var(--border-color-primary);}
/* The title breaks between words only; on a phone it stands above the language choice. */
.row:has(> .form > #language) h1 {overflow-wrap:break-word;}
@media (max-width: 640px) {
  .row:has(> .form > #language) {flex-direction:column; align-items:stretch;}
  .row:has(> .form > #language) h1 {font-size:1.45rem;}
}
.e2v-badge {display:inline-block; margin-left:0.5rem; padding:0 0.45rem; border-radius:6px;
  background:#fff3cd; color:#664d03; font-size:0.8rem; font-weight:600;}
.e2v-seg {cursor:pointer;}
#segment-table [role=row][data-index] {cursor:pointer;}
.e2v-player {display:flex; flex-wrap:wrap; align-items:center; gap:0.3rem 0.8rem;
  margin-top:0.4rem; font-size:0.85rem;}
.e2v-player audio {width:100%; max-width:100%; height:36px;}
/* The Evaluate tab's card: the demo model's warning first, the three numbers large, then
   every class's, in a table that scrolls sideways in its card on a phone, never the page. */
.e2v-eval {display:flex; flex-direction:column; gap:0.6rem; padding:0.8rem 1rem;
  border-radius:12px; border:1px solid var(--border-color-primary);
  background:var(--block-background-fill); font-family:"E2V Emoji", var(--font);}
.e2v-eval-demo {padding:0.5rem 0.8rem; border-radius:8px; background:#fff3cd; color:#664d03;
  font-weight:600;}
.e2v-eval-title {font-weight:600; overflow-wrap:anywhere;}
.e2v-metrics {display:grid; grid-template-columns:repeat(auto-fit, minmax(5.5rem, 1fr));
  gap:0.5rem;}
.e2v-metric {display:flex; flex-direction:column; padding:0.4rem 0.6rem; border-radius:8px;
  border:1px solid var(--border-color-primary);}
.e2v-metric span {font-size:0.8rem; opacity:0.8;}
.e2v-metric b {font-size:clamp(1.15rem, 5vw, 1.5rem); font-variant-numeric:tabular-nums;}
.e2v-table-scroll {overflow-x:auto;}
/* (Inside .e2v-eval: gradio's prose rules draw every table, row and cell a border.) */
.e2v-eval table.e2v-per-class {width:100%; margin:0; border:0; border-collapse:collapse;
  font-size:0.9rem; font-variant-numeric:tabular-nums;}
.e2v-eval .e2v-per-class tr {border:0;}
.e2v-eval .e2v-per-class th, .e2v-eval .e2v-per-class td {padding:0.25rem 0.5rem; border:0;
  text-align:right; white-space:nowrap; border-bottom:1px solid var(--border-color-primary);}
.e2v-per-class th:first-child, .e2v-per-class td:first-child {text-align:left;}
.e2v-per-class tr[data-absent] {opacity:0.55;}
.e2v-eval-cv {display:flex; flex-direction:column; gap:0.5rem; padding-top:0.6rem;
  border-top:1px solid var(--border-color-primary);}
/* The Live tab: the note under its sliders (red when they cannot be used), the stats line,
   and a card that keeps its height as its words change at every hop. */
.e2v-live-settings {font-size:0.9rem; opacity:0.85;}
.e2v-live-settings[data-state=error] {color:#c0392b; opacity:1; font-weight:600;}
.e2v-live-stats {font-size:0.85rem; opacity:0.8; font-variant-numeric:tabular-nums;}
#live-card .e2v-card {min-height:7.5rem;}
/* gr.Image's label floats over the picture: start the heatmap (its title) below it. */
#eval-heatmap .image-container {padding-top:2.2rem;}
#eval-misclassified {--font-mono:"E2V Emoji", var(--font);}
@media (max-width: 640px) {
  .e2v-eval {padding:0.6rem;}
  .e2v-eval table.e2v-per-class {font-size:0.8rem;}
  .e2v-eval .e2v-per-class th, .e2v-eval .e2v-per-class td {padding:0.2rem 0.3rem;}
}
"""

# gr.Audio's upload takes only audio/* types, and Chromium types .webm and .mp4 as video/*:
# before Gradio sees a chosen or dropped file, give an audio suffix an audio type.
JS = """
() => {
  const suffixes = SUFFIXES;
  const retyped = (files) => {
    const list = new DataTransfer();
    let changed = false;
    for (const file of files) {
      const suffix = file.name.slice(file.name.lastIndexOf('.')).toLowerCase();
      const fix = !file.type.startsWith('audio/') && suffixes.includes(suffix);
      changed ||= fix;
      list.items.add(fix ? new File([file], file.name, {type: 'audio/' + suffix.slice(1),
        lastModified: file.lastModified}) : file);
    }
    return changed ? list : null;
  };
  document.addEventListener('change', (event) => {
    if (!event.target.matches?.('#audio-input input[type=file]')) return;
    const list = retyped(event.target.files);
    if (list) event.target.files = list.files;
  }, true);
  document.addEventListener('drop', (event) => {
    if (!event.target.closest?.('#audio-input') || !event.dataTransfer) return;
    const list = retyped(event.dataTransfer.files);
    if (!list) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    event.target.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true,
      dataTransfer: list}));
  }, true);
  // Segment playback: a segment of the strip, or a row of the segment table, plays that
  // part of the recording in the segment view's player, and stops at the segment's end. A
  // split call's named strips (lanes) each carry their channel's audio: the player takes it
  // first; a mix's one strip plays the player's own.
  const seconds = (text) => {
    const parts = text.trim().split(':');
    if (parts.length < 2 || parts.some((part) => !/^\\d+(\\.\\d+)?$/.test(part))) return null;
    return parts.map(Number).reduce((total, part) => total * 60 + part, 0);
  };
  const play = (start, end, src) => {
    const player = document.querySelector('#e2v-player');
    if (!player || start == null) return;
    const go = () => {
      player.currentTime = start;
      player.dataset.end = end ?? '';
      player.play().catch(() => {});
    };
    if (!src || player.src === new URL(src, document.baseURI).href) return go();
    player.dataset.end = '';
    player.addEventListener('loadedmetadata', go, {once: true});
    player.setAttribute('src', src);
  };
  const lanes = () => [...document.querySelectorAll('#segment-strip .e2v-lane[data-name]')];
  document.addEventListener('click', (event) => {
    const block = event.target.closest?.('#segment-strip .e2v-seg');
    if (block) {
      const src = block.closest('.e2v-lane[data-name]')?.dataset.src;
      return play(Number(block.dataset.start), Number(block.dataset.end), src);
    }
    const row = event.target.closest?.('#segment-table [role=row][data-index]');
    if (!row) return;
    const cells = [...row.querySelectorAll('[role=gridcell]')].map((cell) => cell.innerText.trim());
    const times = cells.map(seconds).filter((time) => time != null);
    const lane = lanes().find((each) => cells.includes(each.dataset.name));
    play(times[0], times[1], lane?.dataset.src);
  });
  document.addEventListener('timeupdate', (event) => {
    const player = event.target;
    if (player.id !== 'e2v-player' || !player.dataset.end) return;
    if (player.currentTime >= Number(player.dataset.end)) {
      player.pause();
      player.dataset.end = '';
    }
  }, true);
}
""".replace("SUFFIXES", repr(sorted(AUDIO_SUFFIXES)))

# Without a colour emoji font (found by drawing one: only colour fonts draw colour), mark the
# page e2v-no-colour-emoji for CSS, and take the emoji out of the charts' SVG labels (their
# legend's dots keep the colours). ?emoji=mono or ?emoji=colour in the URL forces a look.
EMOJI_JS = r"""
() => {
  const forced = new URLSearchParams(location.search).get('emoji');
  const hasColourEmoji = () => {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 24;
    const context = canvas.getContext('2d', {willReadFrequently: true});
    context.font = '20px "Noto Color Emoji", "Apple Color Emoji", "Segoe UI Emoji", '
      + '"Twemoji Mozilla"';
    context.textBaseline = 'top';
    context.fillText('😊', 0, 0);
    const pixels = context.getImageData(0, 0, 24, 24).data;
    for (let i = 0; i < pixels.length; i += 4) {
      const [r, g, b, a] = pixels.subarray(i, i + 4);
      if (a > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 64) return true;
    }
    return false;
  };
  if (forced === 'colour' || (forced !== 'mono' && hasColourEmoji())) return;
  document.documentElement.classList.add('e2v-no-colour-emoji');
  const emoji = /\p{Extended_Pictographic}\uFE0F?\s*/gu;
  const strip = () => {
    for (const text of document.querySelectorAll('#timeline svg text, .e2v-plot svg text')) {
      const words = text.textContent.replace(emoji, '');
      if (words !== text.textContent) text.textContent = words;
    }
  };
  new MutationObserver(strip).observe(document.body, {childList: true, subtree: true});
}
"""
# What launch() needs to show the page as designed: its styles and its script (gradio runs
# one function on load: it calls each of ours).
PAGE_ASSETS: dict[str, str] = {
    "css": CSS,
    "js": f"() => {{ ({JS.strip()})(); ({EMOJI_JS.strip()})(); }}",
}
