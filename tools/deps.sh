#!/usr/bin/env bash
# tools/deps.sh — install the Debian packages ragdb needs to build and test,
# only those missing (apt-get update runs only when something is missing).
# Used by tools/quickstart.sh and tools/test.sh; safe to run again.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  liblmdb-dev lmdb-utils libopenblas-dev libcurl4-openssl-dev libcjson-dev libzstd-dev
  libxxhash-dev libutf8proc-dev libstemmer-dev check libsubunit-dev libmicrohttpd-dev
  libgumbo-dev libarchive-dev libxml2-dev libmupdf-dev libmujs-dev libopenjp2-7-dev
  libjbig2dec0-dev libjpeg-dev libfreetype-dev libharfbuzz-dev libbrotli-dev libpng-dev zlib1g-dev
  libedit-dev
  python3
)
[ "$#" -gt 0 ] && PACKAGES+=("$@")

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

echo "ragdb: installing missing packages: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "ragdb: these packages are missing and I am not root: ${missing[*]}" >&2
    echo "       install them with: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
