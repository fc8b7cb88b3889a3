#!/usr/bin/env bash
# The whole test suite: lint (ruff), types (mypy), then pytest. Installs what it needs into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh edge,train,dev
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/pytest -q "$@"
