#!/usr/bin/env bash
# Install whatever Debian packages (and the npm test driver) showhub needs and
# that are missing. Idempotent and quick when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential cmake pkg-config
  libuv1-dev libwebsockets-dev libwebsockets-evlib-uv libmosquitto-dev
  libsqlite3-dev libjansson-dev libcurl4-openssl-dev libcmocka-dev libical-dev
  mosquitto mosquitto-clients ola sqlite3 curl
  python3-pytest python3-paho-mqtt python3-websockets
  chromium clang libclang-rt-14-dev
)
# Node: keep whatever node/npm the machine has (e.g. a nodesource build that
# bundles npm); install Debian's only when they are missing.
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)
if [ "${HUB_BENCH_DEPS:-0}" = 1 ]; then
  PKGS+=(wrk python3-fastapi python3-uvicorn python3-asyncio-mqtt)
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # Debian starts the packaged brokers/daemons; showhub runs its own.
  $SUDO systemctl disable --now mosquitto olad >/dev/null 2>&1 || true
fi

if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "deps: installing playwright-core (npm) for the browser tests"
  (cd tests/browser && npm install --no-audit --no-fund --loglevel=error)
fi
