#!/usr/bin/env bash
# Install vigil as a systemd service on a gateway (Raspberry Pi OS / Debian). Idempotent.
#
#   sudo bash scripts/install-gateway.sh [--root DIR] [--dry-run] [--python python3] [--pip-args "..."]
#                                        [--bundles DIR]
#
# Creates the system user `vigil` (groups audio, bluetooth), a virtual environment in /opt/vigil/venv
# with the `edge` extra, the model bundles in /opt/vigil/bundles (the packaged ones, or each bundle
# folder under --bundles DIR), /etc/vigil/vigil.toml from the template (kept if present; made
# readable by group vigil, 0640 root:vigil, as the service runs as vigil), and the unit
# /etc/systemd/system/vigil.service. --root installs into DIR instead of / (tests, images);
# --dry-run prints what would change and changes nothing. Enable with:
#   systemctl daemon-reload && systemctl enable --now vigil
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root=/
dry=0
python=python3
pip_args=""
bundles="$here/edge/data/bundles"
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="$2"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --python) python="$2"; shift 2 ;;
    --pip-args) pip_args="$2"; shift 2 ;;
    --bundles) bundles="$2"; shift 2 ;;
    *) echo "install-gateway.sh: unknown option $1 (expected --root DIR, --dry-run, --python, --pip-args," \
            "--bundles DIR)" >&2; exit 2 ;;
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

# the model bundles the config names (/opt/vigil/bundles/NAME)
found=0
for manifest in "$bundles"/*/manifest.json; do
  [ -f "$manifest" ] || continue
  found=1
  src="$(dirname "$manifest")"
  for file in "$src"/*; do
    [ -f "$file" ] && put "$file" "$root/opt/vigil/bundles/$(basename "$src")/$(basename "$file")" 0644
  done
done
if [ "$found" = 0 ]; then
  echo "install-gateway.sh: $bundles holds no bundle folders (expected DIR/NAME/manifest.json)" >&2; exit 2
fi

# the config template and the unit; the config is readable by the service's group, not by all
put "$here/edge/data/example.toml" "$root/etc/vigil/vigil.toml.example" 0644
if [ -f "$root/etc/vigil/vigil.toml" ]; then
  echo "unchanged: $root/etc/vigil/vigil.toml (yours)"
else
  # the template's streams whose bundle is not deployed are commented out: the service must start
  live="$(mktemp)"
  awk -v root="$root" '
    function flush(   i) {
      for (i = 1; i <= n; i++) print (skip ? "# " buf[i] : buf[i])
      if (skip) printf "install-gateway.sh: stream left out of vigil.toml (bundle %s not deployed)\n", miss > "/dev/stderr"
      n = 0; skip = 0
    }
    /^\[/ { flush(); instream = ($0 ~ /^\[\[streams\]\]/) }
    instream {
      buf[++n] = $0
      if ($0 ~ /^bundle *= *"/) {
        b = $0; sub(/^bundle *= *"/, "", b); sub(/".*/, "", b)
        if (system("test -f \"" root b "/manifest.json\"") != 0) { skip = 1; miss = b }
      }
      next
    }
    { print }
    END { flush() }' "$here/edge/data/example.toml" > "$live"
  put "$live" "$root/etc/vigil/vigil.toml" 0640
  rm -f "$live"
fi
gid="$(awk -F: '$1 == "vigil" {print $3}' "$root/etc/group" 2>/dev/null || true)"
config="$root/etc/vigil/vigil.toml"
if [ -z "$gid" ]; then
  echo "skipped: group of $config (no group vigil in $root/etc/group)"
elif [ -f "$config" ] && [ "$(stat -c %g "$config")" = "$gid" ] && [ -n "$(find "$config" -perm -g+r)" ]; then
  echo "unchanged: $config readable by group vigil"
else
  act "let group vigil read $config" chgrp "$gid" "$config"
  act "chmod g+r $config" chmod g+r "$config"
fi
put "$here/scripts/systemd/vigil.service" "$root/etc/systemd/system/vigil.service" 0644
[ "$dry" = 1 ] || echo "done: systemctl daemon-reload && systemctl enable --now vigil"
