#!/usr/bin/env bash
# Install vigil as a systemd service on a gateway (Raspberry Pi OS / Debian). Idempotent.
#
#   sudo bash scripts/install-gateway.sh [--root DIR] [--dry-run] [--python python3] [--pip-args "..."]
#
# Creates the system user `vigil` (groups audio, bluetooth), a virtual environment in /opt/vigil/venv
# with the `edge` extra, /etc/vigil/vigil.toml from the template (kept if present), and the unit
# /etc/systemd/system/vigil.service. --root installs into DIR instead of / (tests, images);
# --dry-run prints what would change and changes nothing. Enable with:
#   systemctl daemon-reload && systemctl enable --now vigil
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root=/
dry=0
python=python3
pip_args=""
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="$2"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --python) python="$2"; shift 2 ;;
    --pip-args) pip_args="$2"; shift 2 ;;
    *) echo "install-gateway.sh: unknown option $1 (expected --root DIR, --dry-run, --python, --pip-args)" >&2; exit 2 ;;
  esac
done
root="${root%/}"
act() {  # act DESCRIPTION COMMAND...: run it, or just say it with --dry-run
  local what="$1"; shift
  if [ "$dry" = 1 ]; then echo "would: $what"; else echo "$what"; "$@"; fi
}
put() {  # put SOURCE TARGET MODE: install a file only if its content differs
  if [ -f "$2" ] && cmp -s "$1" "$2"; then echo "unchanged: $2"; return; fi
  act "write $2" install -D -m "$3" "$1" "$2"
}

# the user (inside --root only if that tree has its own passwd database)
if [ "$root" = "" ] || [ -f "$root/etc/passwd" ]; then
  if grep -q '^vigil:' "$root/etc/passwd"; then
    echo "unchanged: user vigil"
  else
    ropt=(); [ -n "$root" ] && ropt=(--root "$root")
    groups=(); for g in audio bluetooth; do grep -q "^$g:" "$root/etc/group" && groups+=("$g"); done
    extra=(); [ ${#groups[@]} -gt 0 ] && extra=(--groups "$(IFS=,; echo "${groups[*]}")")
    act "create system user vigil" useradd "${ropt[@]}" --system --user-group --no-create-home --home-dir /var/lib/vigil \
      --shell /usr/sbin/nologin "${extra[@]}" vigil
  fi
else
  echo "skipped: user vigil ($root has no etc/passwd)"
fi

# the virtual environment with the gateway extra
venv="$root/opt/vigil/venv"
stamp="$venv/.vigil-$(sha256sum "$here/pyproject.toml" | cut -c1-16)"
if [ -f "$stamp" ]; then
  echo "unchanged: $venv"
else
  act "create $venv" "$python" -m venv "$venv"
  # shellcheck disable=SC2086
  act "install vigil[edge] into $venv" "$venv/bin/python" -m pip install -q $pip_args "$here[edge]"
  act "mark $venv current" touch "$stamp"
fi

# the config template and the unit
put "$here/edge/data/example.toml" "$root/etc/vigil/vigil.toml.example" 0644
if [ -f "$root/etc/vigil/vigil.toml" ]; then
  echo "unchanged: $root/etc/vigil/vigil.toml (yours)"
else
  put "$here/edge/data/example.toml" "$root/etc/vigil/vigil.toml" 0640
fi
put "$here/scripts/systemd/vigil.service" "$root/etc/systemd/system/vigil.service" 0644
[ "$dry" = 1 ] || echo "done: systemctl daemon-reload && systemctl enable --now vigil"
