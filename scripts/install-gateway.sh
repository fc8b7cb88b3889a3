#!/usr/bin/env bash
# Install vigil as a systemd service on a gateway (Raspberry Pi OS / Debian). Idempotent.
#
#   sudo bash scripts/install-gateway.sh [--root DIR] [--dry-run] [--python python3] [--pip-args "..."]
#                                        [--bundles DIR] [--ip-allow "ADDRESS ..."]
#
# Installs the system packages the gateway needs when they are missing (libportaudio2: PortAudio,
# which sounddevice loads for microphone input; bluez: bluetoothd, which bleak talks to over D-Bus),
# creates the system user `vigil` (groups audio, bluetooth), a virtual environment in /opt/vigil/venv
# with the `edge` extra, the model bundles in /opt/vigil/bundles (the packaged ones, or each bundle
# folder under --bundles DIR), /etc/vigil/vigil.toml from the template with every stream commented out
# (kept if present; `vigil devices` lists what to fill in; readable by group vigil, 0640 root:vigil, as
# the service runs as vigil), and the unit /etc/systemd/system/vigil.service. The service starts
# with no stream configured and says so in its status.
#
# --root installs into DIR instead of / (tests, images): the venv is made for /opt/vigil/venv (its
# scripts name that path, not DIR), so the tree can be copied to the gateway's /; system packages are
# checked in DIR's dpkg database and installed with apt-get in a chroot. --ip-allow limits the
# addresses the service may reach (systemd IPAddressAllow= in a drop-in, e.g. "localhost
# 192.168.0.0/16 fd00::/8"); without it no address filter is installed. --dry-run prints what would
# change and changes nothing. Enable with:
#   systemctl daemon-reload && systemctl enable --now vigil
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root=/
dry=0
python=python3
pip_args=""
bundles="$here/edge/data/bundles"
ip_allow=""
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="$2"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --python) python="$2"; shift 2 ;;
    --pip-args) pip_args="$2"; shift 2 ;;
    --bundles) bundles="$2"; shift 2 ;;
    --ip-allow) ip_allow="$2"; shift 2 ;;
    *) echo "install-gateway.sh: unknown option $1 (expected --root DIR, --dry-run, --python, --pip-args," \
            "--bundles DIR, --ip-allow \"ADDRESS ...\")" >&2; exit 2 ;;
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
for address in $ip_allow; do  # what systemd's IPAddressAllow= takes: a name it knows, or an address/prefix
  if ! [[ "$address" =~ ^(any|localhost|link-local|multicast|[0-9.]+(/[0-9]+)?|[0-9a-fA-F:]*:[0-9a-fA-F:.]*(/[0-9]+)?)$ ]]; then
    echo "install-gateway.sh: --ip-allow: $address is not an address (expected IPv4 or IPv6, optional /prefix," \
         "or localhost, link-local, multicast, any)" >&2; exit 2
  fi
done

# the system packages: PortAudio for the microphone, BlueZ for the Bluetooth LE streams
declare -A why=([libportaudio2]="PortAudio, which sounddevice loads for microphone input"
                [bluez]="bluetoothd, which bleak talks to over D-Bus for the BLE streams")
admin="$root/var/lib/dpkg"
if [ ! -f "$admin/status" ]; then
  echo "skipped: system packages libportaudio2 bluez (${root:-/} has no dpkg database; install them in the image)"
else
  missing=()
  for pkg in libportaudio2 bluez; do
    if [ "$(dpkg-query --admindir="$admin" -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" = installed ]; then
      echo "present: $pkg"
    else
      missing+=("$pkg")
    fi
  done
  for pkg in "${missing[@]}"; do echo "needed: $pkg (${why[$pkg]})"; done
  if [ ${#missing[@]} -gt 0 ]; then
    apt=(apt-get install -y -q --no-install-recommends "${missing[@]}")
    [ -n "$root" ] && apt=(chroot "$root" "${apt[@]}")
    if ! act "install ${missing[*]} with apt-get${root:+ in a chroot of $root}" "${apt[@]}"; then
      echo "install-gateway.sh: apt-get could not install ${missing[*]} (its output is above; expected a" \
           "reachable package archive: apt-get update, or install them by hand, then run this again)" >&2; exit 1
    fi
  fi
fi

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
  act "install vigil-edge[edge] into $venv" "$venv/bin/python" -m pip install -q $pip_args "$here[edge]"
  if [ "$venv" != /opt/vigil/venv ]; then
    # venv and pip write the path they were given into the scripts' shebangs and the activate
    # scripts: name the path the tree will have on the gateway, so the image can be moved to /
    if [ "$dry" = 1 ]; then
      echo "would: name /opt/vigil/venv instead of $venv in $venv/bin"
    else
      pattern="$(printf '%s' "$venv" | sed 's/[][\.*^$|]/\\&/g')"
      grep -rlF -- "$venv" "$venv/bin" "$venv/pyvenv.cfg" | while read -r file; do
        sed -i "s|$pattern|/opt/vigil/venv|g" "$file"
      done
      echo "named /opt/vigil/venv instead of $venv in $venv/bin"
    fi
  fi
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
  # every stream commented out: which microphone, which wearable is this gateway's own is known on
  # the gateway only (an image is built elsewhere, the template's addresses are placeholders); the
  # service runs without streams and says so until they are filled in
  live="$(mktemp)"
  awk -v root="$root" '
    function flush(   i) {
      for (i = 1; i <= n; i++) print (buf[i] == "" ? "#" : "# " buf[i])
      n = 0
    }
    /^\[/ { flush(); instream = ($0 ~ /^\[\[streams\]\]/) }
    instream && !told {
      print "# No stream is configured yet: the service runs, and says so in its status, until one is."
      print "# `vigil devices` lists the audio inputs and the Bluetooth LE devices in range; uncomment a"
      print "# [[streams]] table below, set its device (microphone) or address (BLE), then"
      print "# `sudo systemctl reload vigil`."
      print ""
      told = 1
    }
    instream {
      buf[++n] = $0
      if ($0 ~ /^bundle *= *"/) {
        b = $0; sub(/^bundle *= *"/, "", b); sub(/".*/, "", b)
        if (system("test -f \"" root b "/manifest.json\"") != 0)
          buf[++n] = "# not deployed here: train it, then install-gateway.sh --bundles DIR"
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

# the address filter: none unless asked for, since the broker may be anywhere (a cloud service, IPv6)
dropin="$root/etc/systemd/system/vigil.service.d/ip-allow.conf"
if [ -n "$ip_allow" ]; then
  rule="$(mktemp)"
  { echo "# install-gateway.sh --ip-allow: the service may reach loopback and $ip_allow only;"
    echo "# any other address (a broker elsewhere, IPv6 unless listed) is refused. Delete this file to lift it."
    echo "[Service]"
    echo "IPAddressDeny=any"
    echo "IPAddressAllow=localhost $ip_allow"; } > "$rule"
  put "$rule" "$dropin" 0644
  rm -f "$rule"
  echo "address filter: the service may reach loopback and $ip_allow only"
elif [ -f "$dropin" ]; then
  echo "kept: $dropin (an address filter from an earlier --ip-allow: $(sed -n 's/^IPAddressAllow=//p' "$dropin"))"
else
  echo "address filter: none (the service may reach any address; --ip-allow \"ADDRESS ...\" limits it)"
fi
[ "$dry" = 1 ] || echo "done: systemctl daemon-reload && systemctl enable --now vigil"
