#!/usr/bin/env bash
# The one command a user runs. First run: creates .venv and installs the app. Then:
#   ./run.sh [--demo] [OPTIONS]      start the WebUI on http://127.0.0.1:7860, warm it up
#                                    (--demo: tiny random-weight model; --help: all options)
#   ./run.sh predict FILE... [OPTS]  the CLI (emotion2vec-app predict --help)
#   ./run.sh evaluate|train-head DATA [OPTS]   research: metrics of a labelled set, heads
#   ./run.sh batch|ray-serve ...     on Ray (installs the optional extra first)
#   ./run.sh test [PYTEST ARGS]      install test tools, then run the whole test suite
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"

VENV=.venv
STAMP=$VENV/.installed

python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; }

setup() {
  if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    local python=${PYTHON:-python3}
    python_ok "$python" || { echo "run.sh needs Python >= 3.10 (set PYTHON=/path/to/python3)" >&2; exit 1; }
    echo "First run: setting up $VENV (a few minutes; torch and FunASR are large)..."
    [ -x $VENV/bin/python ] || "$python" -m venv $VENV
    if ! { $VENV/bin/python -m pip install --upgrade pip \
        && $VENV/bin/python -m pip install -e ".[dev]"; } > $VENV/install.log 2>&1; then
      tail -n 30 $VENV/install.log >&2
      echo "Setup failed; the full log is $VENV/install.log" >&2
      exit 1
    fi
    touch "$STAMP"
  fi
}

# The optional Ray extra: for `batch`, `ray-serve` and the tests; the WebUI never needs it.
ensure_distributed() {
  local stamp=$VENV/.installed-distributed
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "Installing the optional Ray extra (ray[data,serve])..."
    if ! $VENV/bin/python -m pip install -e ".[dev,distributed]" >> $VENV/install.log 2>&1; then
      tail -n 30 $VENV/install.log >&2
      echo "Installing .[distributed] failed; the full log is $VENV/install.log" >&2
      exit 1
    fi
    touch "$stamp"
  fi
}

# Debian/Ubuntu tools the tests use: speech-like audio and a headless browser.
ensure_test_tools() {
  local missing=()
  command -v espeak-ng >/dev/null || missing+=(espeak-ng)
  command -v sox >/dev/null || missing+=(sox libsox-fmt-all)
  # The browser tests drive Debian's chromium through Playwright (no browser download).
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  # A CJK font, so the 中文 pages in the browser screenshots are readable.
  fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" || missing+=(fonts-wqy-microhei)
  # A colour emoji font: the emoji tests check it draws in colour (without one, DejaVu Sans
  # draws black outlines and the page falls back to coloured dots).
  fc-list 2>/dev/null | grep -qi "noto color emoji" || missing+=(fonts-noto-color-emoji)
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  if command -v apt-get >/dev/null; then
    echo "Installing test tools: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "The tests need: ${missing[*]}. Install them with your package manager." >&2
    exit 1
  fi
}

# Start the server, wait for its port, send a real clip through the API, print the URL.
serve() {
  local port=7860 host=127.0.0.1 auth="" args=("$@")
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) port=$2; shift ;;
      --port=*) port=${1#*=} ;;
      --host) host=$2; shift ;;
      --host=*) host=${1#*=} ;;
      --listen) host=0.0.0.0 ;;
      --auth) auth=$2; shift ;;
      --auth=*) auth=${1#*=} ;;
    esac
    shift
  done
  [ "$host" = 0.0.0.0 ] && host=127.0.0.1
  $VENV/bin/emotion2vec-app serve "${args[@]}" &
  local server=$!
  trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; exit 0' INT TERM
  until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
    kill -0 $server 2>/dev/null || { wait $server; exit $?; }
    sleep 0.3
  done
  $VENV/bin/emotion2vec-app warmup --url "http://$host:$port" ${auth:+--auth "$auth"} \
    || echo "Warm-up did not finish; the server keeps running." >&2
  echo "Open http://$host:$port in your browser. Ctrl+C stops the server."
  wait $server
}

setup
case "${1:-}" in
  test)
    shift
    ensure_distributed
    ensure_test_tools
    exec $VENV/bin/python -m pytest "$@"
    ;;
  predict|evaluate|train-head|stream)
    exec $VENV/bin/emotion2vec-app "$@"
    ;;
  batch|ray-serve)
    ensure_distributed
    exec $VENV/bin/emotion2vec-app "$@"
    ;;
  *)
    serve "$@"
    ;;
esac
