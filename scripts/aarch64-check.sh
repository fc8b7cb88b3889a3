#!/usr/bin/env bash
# Run the gateway on aarch64 under emulation: Raspberry Pi OS Bookworm's CPython 3.11, the `edge`
# extra from the registry's aarch64 wheels, `vigil demo` under qemu-user. Not CI: a script to run
# by hand (a few minutes; downloads about 150 MB of Debian arm64 packages and wheels once).
#
#   bash scripts/aarch64-check.sh [--work DIR] [--litert "2.3.0 2.1.6 ..."] [--tflite-runtime "2.14.0"]
#                                 [--cpus "cortex-a72 max"] [--report FILE]
#
# How: (1) qemu-user-static from apt (the x86 host's emulator); (2) Debian bookworm arm64 packages
# for python3.11 and its libraries, fetched with apt-get download into a private apt state (the
# host's dpkg architectures are not touched) and unpacked with dpkg -x into a sysroot: the same
# CPython 3.11.2 and glibc 2.36 as Raspberry Pi OS Bookworm; (3) for each LiteRT / tflite-runtime
# version, `pip install --target` of vigil[edge] with --platform manylinux_2_34/2_27/2014_aarch64,
# --only-binary :all: (no compiler); (4) `qemu-aarch64-static -cpu CPU -L SYSROOT python3.11 -m
# edge.cli demo --json`, once per CPU model. binfmt_misc is not needed: qemu runs the interpreter
# directly (-L maps the sysroot), and the demo starts no other arm64 program.
#
# Each run's outcome is one row: "ok" (the demo ran and decided every clip as on x86), "differs"
# (it ran, other decisions), "crash" (killed by a signal: a fault in the emulator or in the
# library, which only a real Pi can tell apart; a crash with one -cpu model and not another points
# at code paths for CPU features, e.g. -cpu max offers SVE/i8mm that a Pi 4's Cortex-A72 lacks),
# "import" or "runtime" when Python reports an error (a real problem on a Pi too). The table goes
# to --report (markdown).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${TMPDIR:-/tmp}/vigil-aarch64"
litert="2.3.0 2.1.6 1.4.0"
tflite=""
cpus="cortex-a72 max"
report=""
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work="$2"; shift 2 ;;
    --litert) litert="$2"; shift 2 ;;
    --tflite-runtime) tflite="$2"; shift 2 ;;
    --cpus) cpus="$2"; shift 2 ;;
    --report) report="$2"; shift 2 ;;
    *) echo "aarch64-check.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
python="${PYTHON:-$here/.venv/bin/python}"  # the host interpreter: builds the wheel, runs pip and the x86 reference
[ -x "$python" ] || python=python3
mkdir -p "$work"
say() { echo "aarch64-check: $*" >&2; }

# 1. the emulator
if ! command -v qemu-aarch64-static >/dev/null; then
  say "installing qemu-user-static with apt (the x86 host's aarch64 emulator; binfmt is not used)"
  apt-get install -y -q qemu-user-static >/dev/null
fi
say "$(qemu-aarch64-static --version | head -1)"

# 2. a Bookworm arm64 sysroot holding CPython 3.11 (private apt state: the host is not changed)
sysroot="$work/sysroot"
# what Raspberry Pi OS always has: CPython 3.11 and the C++ runtime the LiteRT wheels link against
base_packages="python3.11 libpython3.11-stdlib python3-distutils libstdc++6 libgcc-s1 libgomp1"
if [ "$(cat "$sysroot/.packages" 2>/dev/null)" != "$base_packages" ]; then
  apt_dir="$work/apt"
  mkdir -p "$apt_dir/state/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs" "$sysroot"
  sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1 > "$apt_dir/mirror"
  mirror="$(cat "$apt_dir/mirror")"; mirror="${mirror:-http://deb.debian.org/debian}"
  echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main" \
    > "$apt_dir/sources.list"
  opts=(-o "Dir::State=$apt_dir/state" -o "Dir::Cache=$apt_dir/cache" -o "Dir::Etc::SourceList=$apt_dir/sources.list"
        -o "Dir::Etc::SourceParts=/dev/null" -o "APT::Architecture=arm64" -o "APT::Architectures::=arm64"
        -o "Dir::State::status=/dev/null" -o "Debug::NoLocking=1")
  say "fetching Debian bookworm arm64 package lists"
  apt-get "${opts[@]}" update -q >/dev/null
  packages="$(apt-cache "${opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
      --no-replaces --no-enhances $base_packages \
    | grep '^[a-z0-9]' | grep -v -e '^debconf' -e '^perl' -e '^dpkg$' -e '^install-info' | sort -u)"
  say "downloading $(echo "$packages" | wc -w) arm64 packages (python3.11 and its libraries)"
  (cd "$apt_dir/debs" && apt-get "${opts[@]}" download $packages >/dev/null 2>&1 || \
     for p in $packages; do apt-get "${opts[@]}" download "$p" >/dev/null 2>&1 || say "skipped $p"; done)
  for deb in "$apt_dir"/debs/*.deb; do dpkg -x "$deb" "$sysroot"; done
  echo "$base_packages" > "$sysroot/.packages"
fi
py_arm=(qemu-aarch64-static -L "$sysroot" "$sysroot/usr/bin/python3.11")
say "sysroot: $("${py_arm[@]}" -c 'import platform, sys; print(platform.machine(), sys.version.split()[0])')"

# 3. vigil as a wheel (pure Python), then one --target install per runtime version
mkdir -p "$work/wheel"
rm -f "$work"/wheel/vigil_edge-*.whl
"$python" -m pip wheel -q --no-deps -w "$work/wheel" "$here" >/dev/null
wheel="$(ls "$work"/wheel/vigil_edge-*.whl)"
plat=(--platform manylinux_2_34_aarch64 --platform manylinux_2_28_aarch64 --platform manylinux_2_27_aarch64
      --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 --only-binary :all:
      --python-version 3.11 --implementation cp --abi cp311)
rows=()
expected="$(cd "$here" && "$python" -m edge.cli demo --json 2>/dev/null | "$python" -c '
import json, sys
print(" ".join(json.loads(l).get("decision", "-") for l in sys.stdin if l.strip()))')"

run_one() {  # run_one LABEL TARGET: the demo under each CPU model, one row each
  local label="$1" target="$2" cpu out status kind
  for cpu in $cpus; do
    set +e
    out="$(cd "$work" && PYTHONPATH="$target" PYTHONNOUSERSITE=1 timeout 900 \
           qemu-aarch64-static -cpu "$cpu" -L "$sysroot" "$sysroot/usr/bin/python3.11" -m edge.cli demo --json 2>&1)"
    status=$?
    set -e
    got="$(echo "$out" | "$python" -c '
import json, sys
rows = []
for line in sys.stdin:
    try:
        rows.append(json.loads(line).get("decision", "-"))
    except ValueError:
        pass
print(" ".join(rows))')"
    if [ "$status" = 0 ] && [ "$got" = "$expected" ]; then
      kind="ok: same decisions as x86"
    elif [ "$status" = 0 ]; then
      kind="differs: decisions differ from x86 ($got)"
    elif echo "$out" | grep -q -e "qemu: uncaught target signal" -e "qemu:.*Illegal" -e "qemu: unhandled" \
         || [ "$status" -ge 128 ]; then
      kind="crash under qemu-user: $(echo "$out" | grep -m1 -e qemu -e Segmentation -e Illegal \
             || echo "signal $((status - 128))")"
    elif echo "$out" | grep -q -e "ImportError" -e "ModuleNotFoundError"; then
      kind="import: $(echo "$out" | grep -m1 -e ImportError -e ModuleNotFoundError)"
    else
      kind="runtime (exit $status): $(echo "$out" | tail -1)"
    fi
    rows+=("| $label | $cpu | $kind |")
    say "$label, -cpu $cpu: $kind"
  done
}

for version in $litert; do
  target="$work/site-litert-$version"
  if [ ! -d "$target/ai_edge_litert" ]; then
    say "pip: vigil[edge] with ai-edge-litert==$version for aarch64"
    if ! "$python" -m pip install -q --target "$target" "${plat[@]}" "$wheel[edge]" "ai-edge-litert==$version" \
         >"$work/pip-litert-$version.log" 2>&1; then
      rows+=("| ai-edge-litert $version | - | no aarch64 wheel for CPython 3.11 (see pip-litert-$version.log) |")
      say "ai-edge-litert $version: pip failed: $(tail -1 "$work/pip-litert-$version.log")"
      continue
    fi
  fi
  run_one "ai-edge-litert $version" "$target"
done
for version in $tflite; do
  target="$work/site-tflite-$version"
  if [ ! -d "$target/tflite_runtime" ]; then
    say "pip: vigil[edge-legacy] with tflite-runtime==$version (NumPy 1.x) for aarch64"
    if ! "$python" -m pip install -q --target "$target" "${plat[@]}" "$wheel[edge-legacy]" "tflite-runtime==$version" \
         >"$work/pip-tflite-$version.log" 2>&1; then
      rows+=("| tflite-runtime $version | - | no aarch64 wheel (see pip-tflite-$version.log) |")
      continue
    fi
  fi
  run_one "tflite-runtime $version" "$target"
done

table="$(printf '%s\n' "| runtime | qemu -cpu | result |" "|---|---|---|" "${rows[@]}")"
echo "$table"
if [ -n "$report" ]; then
  { echo "# vigil demo on aarch64 (qemu-user), $(date -u +%Y-%m-%d)"; echo
    echo "$(qemu-aarch64-static --version | head -1); sysroot: Debian bookworm arm64 CPython 3.11"
    echo; echo "$table"; } > "$report"
  say "report written to $report"
fi
