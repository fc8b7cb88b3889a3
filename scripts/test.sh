#!/usr/bin/env bash
# The test suite: lint (ruff), types (mypy), then pytest. Installs what it needs into .venv.
# Usage: bash scripts/test.sh [--fast] [PYTEST ARGS]
#   (none)  everything, as CI runs it: the system peers below are installed with apt when missing.
#   --fast  the development loop: the tests marked neither `training` (trains or converts a model with
#           TensorFlow/scikit-learn), `peer` (starts a system peer) nor `slow` (whole records, the service end
#           to end); no apt, as it needs no peer. A test that passes but takes over FAST_LIMIT_S seconds fails
#           there, so a slow test gets marked rather than slipped in (pyproject.toml registers the markers,
#           tests/conftest.py applies and guards them).
set -euo pipefail
cd "$(dirname "$0")/.."
fast=false
if [ "${1:-}" = "--fast" ]; then fast=true; shift; fi
FAST_LIMIT_S="${FAST_LIMIT_S:-30}"  # the slowest fast test takes 2-6 s idle, up to 24 s with two CPU-bound jobs beside it
# System peers the tests start themselves: a D-Bus daemon (fake BlueZ for bleak), a C compiler
# (firmware header and export-c checks), mosquitto (MQTT), PortAudio and PulseAudio (sounddevice, a
# PulseAudio null sink as the microphone), Debian's chromium (the live page seen in a real headless
# browser, driven by playwright from the dev extra; no browser is ever downloaded by a test tool).
# Installed from apt when missing and we may.
missing=()
why=()
need() {  # need "PACKAGES" "WHY": queue apt packages and say why the tests want them
  read -r -a pkgs <<< "$1"; missing+=("${pkgs[@]}"); why+=("  $1: $2")
}
command -v dbus-daemon >/dev/null || need "dbus-daemon" "a private D-Bus for the fake BlueZ that bleak talks to"
command -v cc >/dev/null || need "gcc libc6-dev" "compiles the firmware C header and export-c output"
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || need "mosquitto" "an MQTT broker for the sink tests"
{ ldconfig -p 2>/dev/null || /sbin/ldconfig -p; } | grep -q libportaudio.so.2 \
  || need "libportaudio2" "PortAudio, which sounddevice (the microphone input) loads"
command -v pulseaudio >/dev/null \
  || need "pulseaudio pulseaudio-utils libasound2-plugins" "a PulseAudio null sink as the test microphone"
command -v unshare >/dev/null && command -v chroot >/dev/null || need "util-linux coreutils" \
  "unshare and chroot: the installed service is started as its user in a temporary root"
[ -x /usr/bin/chromium ] || need "chromium" "the live status page seen in a real headless browser (playwright drives it)"
if ! $fast && [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test.sh: installing with apt-get (system packages the tests start or load):" >&2
    printf '%s\n' "${why[@]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "the tests need: ${missing[*]} (apt-get install ${missing[*]}):" >&2
    printf '%s\n' "${why[@]}" >&2
    exit 1
  fi
fi
bash scripts/venv.sh edge,train,dev
.venv/bin/ruff check .
.venv/bin/mypy
if $fast; then
  echo "test.sh --fast: pytest takes about 2-3 minutes on 2 cores (no training, no system peer, nothing slow)" >&2
  exec .venv/bin/pytest -q -m "not training and not peer and not slow" --max-test-seconds "$FAST_LIMIT_S" "$@"
fi
echo "test.sh: pytest takes about 12-15 minutes on 2 cores (it trains small models on real data)" >&2
exec .venv/bin/pytest -q "$@"
