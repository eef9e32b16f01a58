#!/usr/bin/env bash
# Installs what the project needs on a Debian machine without a GPU, only where it is missing:
# - Debian's chromium: the browser for the Playwright tests, and the SwiftShader Vulkan driver
#   (/usr/lib/chromium/vk_swiftshader_icd.json) that Dawn uses in Node when there is no GPU;
# - libvulkan1: the Vulkan loader Dawn's Node binding opens;
# - the npm dependencies from the lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
[ -f /usr/lib/chromium/vk_swiftshader_icd.json ] || packages+=(chromium)
if ! { ldconfig -p 2>/dev/null || true; } | grep -q 'libvulkan\.so\.1'; then packages+=(libvulkan1); fi
if [ ${#packages[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "setup: missing ${packages[*]} and no apt-get here; install them with your package manager." >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup: installing ${packages[*]} (apt-get)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
fi

# Reinstall when the lockfile is newer than the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  # --ignore-scripts: onnxruntime-node's install script downloads from the network; no package here
  # needs an install script (the native binaries ship inside the packages).
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi
