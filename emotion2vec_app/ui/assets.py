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
.e2v-legend {display:inline-block; margin-right:0.8rem; padding-left:0.3rem;
  border-left:12px solid var(--e2v-colour);}
/* A gr.Group sets its children's border to none, but a plot's inline border-style: solid
   brings back a 3px border in the text colour: give it no width. */
#segment-plot {border-width:0;}
#segment-summary {padding:0.4rem 0.8rem;}
.e2v-card > div:last-child {min-width:0; overflow-wrap:anywhere;}
.e2v-file {font-size:0.9rem; opacity:0.75;}
.e2v-warnings {margin-top:0.4rem; color:#8a5a00;}
.e2v-warnings ul, .e2v-batch-summary ul {margin:0.2rem 0 0 1.2rem; padding:0; list-style:disc;}
.e2v-reason {font-weight:600; margin:0.3rem 0;}
.e2v-batch-summary {padding:0.5rem 0.8rem; border-radius:8px; overflow-wrap:anywhere;
  background:var(--block-background-fill); border-left:6px solid #27ae60;}
.e2v-batch-summary[data-failed] {border-left-color:#c0392b;}
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
}
""".replace("SUFFIXES", repr(sorted(AUDIO_SUFFIXES)))
# What launch() needs to show the page as designed: its styles and its script.
PAGE_ASSETS: dict[str, str] = {"css": CSS, "js": JS}
