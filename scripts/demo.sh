#!/usr/bin/env bash
# The main job on the embedded default: bundled sample clips scored by the bundled int8 models,
# on the gateway code path (edge extra only; no TensorFlow).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh edge
exec .venv/bin/vigil demo "$@"
