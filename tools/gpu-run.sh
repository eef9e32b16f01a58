#!/usr/bin/env bash
# The GPU benchmark (bench/gpu-node.ts) on a lent device machine, which has a GPU and python3 but
# no Node, no Chromium and no network. DEVELOPERS.md ("Running the benchmark on a lent GPU") has
# the whole procedure and the exact `run` call.
#
#   bash tools/gpu-run.sh prepare        here: fills .gpu/ (ignored) with what the device lacks
#   bash tools/gpu-run.sh device [ARGS]  there, from the repository root: runs the bench into $OUT
#                                        (ARGS go to the bench; --adapter hardware unless given)
#   bash tools/gpu-run.sh size           what a `run` call would send: tree + .gpu, against 64 MiB
#   bash tools/gpu-run.sh park|unpark    move the tracked models the bench does not read out of the
#                                        tree (into .gpu-parked/, ignored, which does not travel) and back
#
# .gpu/ holds: node.xz (this machine's node, stripped: the device has none), node_modules/webgpu
# (Dawn's binding, dawn.node xz-compressed), bench.mjs (the bench and src/ bundled by esbuild, the
# webgpu package left external so that it resolves from .gpu/node_modules), debs/ (the Vulkan loader
# and glvnd, by the device README's apt-get download recipe).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
gpu=.gpu
parked=.gpu-parked
# The run tool's limit on everything that travels, and what .gpu/ may take of it.
limit_mib=64
gpu_budget_mib=55
# Tracked files the bench never reads (the decoder and translator models): what `park` moves.
park_paths=(models/multi30k-gpt2-tiny models/multi30k-gpt2-tiny.i8t models/multi30k-marian-en-de
  models/multi30k-marian-en-de.i8t models/multi30k-marian-en-de.SOURCE.md)
debs=(libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# Bytes of the files git would send: tracked (those present) and untracked-not-ignored.
tree_bytes() {
  { git ls-files -z; git ls-files -z --others --exclude-standard; } |
    { xargs -0 -r stat -c '%s' -- 2>/dev/null || true; } | awk '{ s += $1 } END { print s + 0 }'
}

dir_bytes() { [ -d "$1" ] && find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }' || echo 0; }

size() {
  local tree carry total
  tree=$(tree_bytes)
  carry=$(dir_bytes "$gpu")
  total=$((tree + carry))
  echo "working tree $(mib "$tree") MiB + .gpu $(mib "$carry") MiB = $(mib "$total") MiB (limit ${limit_mib} MiB)"
  if [ "$carry" -gt $((gpu_budget_mib * 1048576)) ]; then
    echo ".gpu is over its ${gpu_budget_mib} MiB budget" >&2
    return 1
  fi
  if [ "$total" -gt $((limit_mib * 1048576)) ]; then
    local parkable=0 p b
    for p in "${park_paths[@]}"; do
      [ -e "$p" ] || continue
      b=$(dir_bytes "$p")
      [ -f "$p" ] && b=$(stat -c '%s' "$p")
      parkable=$((parkable + b))
    done
    echo "too large to travel: 'bash tools/gpu-run.sh park' takes $(mib "$parkable") MiB of tracked models the bench does not read out of the tree for the run (and 'unpark' puts them back)" >&2
    return 1
  fi
}

prepare() {
  command -v xz >/dev/null || { echo 'prepare needs xz (apt-get install xz-utils)' >&2; exit 1; }
  [ "$(uname -m)" = x86_64 ] || { echo "prepare carries this machine's node and dawn.node: it must run on x86-64, not $(uname -m)" >&2; exit 1; }
  local dawn=node_modules/webgpu/dist/linux-x64/dawn.node
  [ -f "$dawn" ] || { echo "no $dawn: run npm install first" >&2; exit 1; }
  mkdir -p "$gpu/node_modules/webgpu/dist/linux-x64" "$gpu/debs"

  # node: the device has none. Stripped of its symbol table (N-API addons link through the dynamic
  # one, which stays), then xz: about 20 MiB. Redone only when the node binary changes.
  local node_bin stamp
  node_bin=$(readlink -f "$(command -v node)")
  stamp="$(node --version) $(stat -c '%s %Y' "$node_bin")"
  if [ ! -f "$gpu/node.xz" ] || [ "$(cat "$gpu/node.stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "node $(node --version): stripping and compressing (a minute or two)"
    cp "$node_bin" "$gpu/node.tmp"
    strip "$gpu/node.tmp" 2>/dev/null || echo 'strip failed: carrying node unstripped'
    xz -9e -T1 -c "$gpu/node.tmp" >"$gpu/node.xz.tmp"
    rm "$gpu/node.tmp"
    mv "$gpu/node.xz.tmp" "$gpu/node.xz"
    echo "$stamp" >"$gpu/node.stamp"
  fi

  # Dawn's binding as a package of its own, where the bundle's import('webgpu') resolves.
  cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$gpu/node_modules/webgpu/"
  if [ ! -f "$gpu/node_modules/webgpu/dist/linux-x64/dawn.node.xz" ] || [ "$dawn" -nt "$gpu/node_modules/webgpu/dist/linux-x64/dawn.node.xz" ]; then
    echo 'dawn.node: compressing'
    xz -9e -T1 -c "$dawn" >"$gpu/node_modules/webgpu/dist/linux-x64/dawn.node.xz"
  fi

  # One ES module: the bench with src/ and its npm dependencies. CommonJS inside it needs require.
  npx esbuild bench/gpu-node.ts --bundle --platform=node --format=esm --target=node20 --external:webgpu \
    --banner:js="import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" \
    --log-level=warning --outfile="$gpu/bench.mjs"

  # The Vulkan loader (and glvnd, which the NVIDIA ICD's library links) the device image may lack,
  # by the device README's recipe: packages of amd64 whatever this machine is.
  if ls "$gpu"/debs/libvulkan1_*.deb >/dev/null 2>&1; then
    echo 'debs: already there'
  else
    local o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
    mkdir -p /tmp/amd64/partial
    if apt-get "${o[@]}" update >/tmp/gpu-run-apt.log 2>&1 &&
      (cd "$gpu/debs" && apt-get "${o[@]}" download "${debs[@]}" >>/tmp/gpu-run-apt.log 2>&1); then
      echo "debs: $(ls "$gpu/debs" | tr '\n' ' ')"
    else
      echo "debs: apt-get could not download them (log: /tmp/gpu-run-apt.log). On a machine whose package mirror answers, run:" >&2
      echo "  mkdir -p /tmp/amd64/partial; o='${o[*]}'; apt-get \$o update; (cd $root/$gpu/debs && apt-get \$o download ${debs[*]})" >&2
      echo "and copy the .deb files into $root/$gpu/debs/. Without them the device must already have libvulkan.so.1." >&2
    fi
  fi
  echo ".gpu: $(du -sh --apparent-size "$gpu" | cut -f1)"
  size || true
}

device() {
  local out=${OUT:?device writes its results into \$OUT (the run tool sets it)}
  [ -f "$gpu/bench.mjs" ] && [ -f "$gpu/node.xz" ] || { echo "no $gpu/bench.mjs or $gpu/node.xz: run 'bash tools/gpu-run.sh prepare' here and carry $gpu" >&2; exit 1; }
  mkdir -p "$out"
  device_run "$out" "$@" 2>&1 | tee "$out/gpu-run.log"
}

device_run() {
  local out=$1
  shift
  # Unpacked outside the tree: the bundle resolves 'webgpu' from its own folder.
  local run=/tmp/gpu-run
  rm -rf "$run"
  mkdir -p "$run/node_modules/webgpu/dist/linux-x64"
  unxz() { if command -v xz >/dev/null; then xz -dc "$1" >"$2"; else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi; }
  unxz "$gpu/node.xz" "$run/node"
  chmod +x "$run/node"
  cp "$gpu/bench.mjs" "$run/"
  cp "$gpu/node_modules/webgpu/package.json" "$gpu/node_modules/webgpu/index.js" "$run/node_modules/webgpu/"
  unxz "$gpu/node_modules/webgpu/dist/linux-x64/dawn.node.xz" "$run/node_modules/webgpu/dist/linux-x64/dawn.node"

  # The Vulkan loader: unpacked into / only where the image lacks it (the README's recipe).
  if ! ldconfig -p | grep 'libvulkan\.so\.1' >/dev/null; then
    local f
    for f in "$gpu"/debs/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
    ldconfig
  fi
  ldconfig -p | grep 'libvulkan\.so\.1' >/dev/null || echo 'warning: still no libvulkan.so.1: Dawn will find no Vulkan adapter' >&2
  # The NVIDIA ICD alone, so Dawn cannot fall back to a software driver.
  local icd
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
    /etc/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then
      export VK_DRIVER_FILES=$icd
      break
    fi
  done
  [ -f /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ] &&
    export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
  echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-(unset: the default search of the loader)}"

  local name=() adapter=(--adapter hardware)
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    name=(--gpu-name "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)")
  fi
  case " $* " in *' --adapter '*) adapter=() ;; esac
  "$run/node" --version
  "$run/node" "$run/bench.mjs" --out "$out" "${adapter[@]}" "${name[@]}" "$@"
}

park() {
  git check-ignore -q "$parked/x" || { echo "$parked/ is not ignored by .gitignore: refusing to park into it" >&2; exit 1; }
  mkdir -p "$parked"
  local p
  for p in "${park_paths[@]}"; do
    [ -e "$p" ] || continue
    mkdir -p "$parked/$(dirname "$p")"
    mv "$p" "$parked/$p"
    echo "parked $p"
  done
  size || true
}

unpark() {
  local p
  for p in "${park_paths[@]}"; do
    [ -e "$parked/$p" ] || continue
    if [ -e "$p" ]; then
      echo "not restoring $p: it exists again (the parked copy stays in $parked/$p)" >&2
      continue
    fi
    mv "$parked/$p" "$p"
    echo "restored $p"
  done
  git status --short -- "${park_paths[@]}"
}

verb=${1:-}
shift || true
case "$verb" in
prepare) prepare ;;
device) device "$@" ;;
size) size ;;
park) park ;;
unpark) unpark ;;
*)
  echo "usage: bash tools/gpu-run.sh prepare|device [bench options]|size|park|unpark" >&2
  exit 2
  ;;
esac
