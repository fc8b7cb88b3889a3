#!/usr/bin/env bash
# The whole test suite: lint (ruff), types (mypy), then pytest. Installs what it needs into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
# System peers the tests start themselves: a D-Bus daemon (fake BlueZ for bleak), a C compiler
# (firmware header and export-c checks), mosquitto (MQTT), PortAudio and PulseAudio (sounddevice, a
# PulseAudio null sink as the microphone), Debian's chromium (the live page seen in a real headless
# browser, driven by playwright from the dev extra; no browser is ever downloaded by a test tool).
# Installed from apt when missing and we may.
missing=()
command -v dbus-daemon >/dev/null || missing+=(dbus-daemon)
command -v cc >/dev/null || missing+=(gcc libc6-dev)
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || missing+=(mosquitto)
{ ldconfig -p 2>/dev/null || /sbin/ldconfig -p; } | grep -q libportaudio.so.2 || missing+=(libportaudio2)
command -v pulseaudio >/dev/null || missing+=(pulseaudio pulseaudio-utils libasound2-plugins)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "the tests need: ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi
bash scripts/venv.sh edge,train,dev
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/pytest -q "$@"
