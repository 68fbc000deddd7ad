"""The WebUI and its client API, the only place gradio is imported (by page, views,
handlers and live; server imports it inside its functions).

  page.py      build_ui: the Blocks page and its events, wired by component name
  views.py     the components, built in layout order and held in named dataclasses
  handlers.py  what the page and the API call; what an analysis shows, by component
  render.py    the views' HTML and data frames (no gradio)
  live.py      the Live tab: each page's recording, its stream and its events
  live_render.py  the Live tab's card, last minute and stats (no gradio)
  text.py      every string in English and 中文
  server.py    serve, GET /status, share link; the warm-up client
  examples.py  the example clips
"""
