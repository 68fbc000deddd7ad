#!/usr/bin/env bash
# The one command a user runs. First run: creates .venv and installs the app. Then:
#   ./run.sh [--demo] [OPTIONS]      start the app (--demo: tiny random-weight model)
#   ./run.sh predict FILE... [OPTS]  the CLI (emotion2vec-app predict --help)
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
    $VENV/bin/python -m pip install --quiet --upgrade pip
    $VENV/bin/python -m pip install --quiet -e ".[dev]"
    touch "$STAMP"
  fi
}

# Debian/Ubuntu tools the tests use to make speech-like audio.
ensure_test_tools() {
  local missing=()
  command -v espeak-ng >/dev/null || missing+=(espeak-ng)
  command -v sox >/dev/null || missing+=(sox libsox-fmt-all)
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

setup
case "${1:-}" in
  test)
    shift
    ensure_test_tools
    exec $VENV/bin/python -m pytest "$@"
    ;;
  predict)
    exec $VENV/bin/emotion2vec-app "$@"
    ;;
  *)
    echo
    echo "Set up. The WebUI lands next; until then use the CLI, for example:"
    echo "  ./run.sh predict recording.wav --model demo        # random weights, to try it"
    echo "  ./run.sh predict recording.wav --granularity frame --embedding"
    echo "  ./run.sh predict --help"
    ;;
esac
