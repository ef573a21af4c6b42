#!/usr/bin/env bash
# One entry point for a fresh machine: installs what is missing, then runs the demo or the tests.
#   ./dev.sh demo [--auto-press SECONDS]   the whole system on this machine
#   ./dev.sh test [pytest args]            lint, type checks and the full test suite
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)
venv="$root/.venv"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

apt_install() {
  # Debian packages the project runs against; installed only when missing.
  local missing=()
  for pkg in "$@"; do
    case "$pkg" in
      mosquitto) command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto) ;;
      chromium) [ -x /usr/bin/chromium ] || missing+=(chromium) ;;
      nodejs) command -v node >/dev/null || missing+=(nodejs) ;;
      npm) command -v npm >/dev/null || missing+=(npm) ;;
    esac
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null; then
      echo "installing Debian packages: ${missing[*]}" >&2
      as_root apt-get update -qq
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "missing (install them with your package manager): ${missing[*]}" >&2
    fi
  fi
}

python_env() {
  local py=${PYTHON:-python3}
  if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
  fi
  local stamp="$venv/.installed" want
  want=$(cat pyproject.toml | sha256sum | cut -c1-16)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$venv/bin/python" -m pip install -q -e ".[dev]"
    echo "$want" >"$stamp"
  fi
}

node_env() {
  if [ ! -d node_modules/@micropython/micropython-webassembly-pyscript ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

cmd=${1:-help}
[ $# -gt 0 ] && shift
case "$cmd" in
  demo)
    apt_install mosquitto || echo "mosquitto unavailable: the demo uses its embedded broker" >&2
    python_env
    exec "$venv/bin/shouwang" demo "$@"
    ;;
  test)
    apt_install mosquitto chromium nodejs npm
    python_env
    node_env
    export PATH="$venv/bin:$PATH"
    ruff check .
    mypy
    exec python -m pytest "$@"
    ;;
  *)
    sed -n '2,4p' "$0"
    ;;
esac
