#!/usr/bin/env bash
# Download URL to OUT with curl (or wget), for the recipes' corpus downloads.
# Usage: scripts/download.sh URL OUT OPTION   (OPTION: the recipe option that points at a
# corpus fetched by hand, named in the error when neither curl nor wget exists)
set -euo pipefail
url=${1:?usage: $0 URL OUT OPTION} out=${2:?usage: $0 URL OUT OPTION} option=${3:-}
if command -v curl >/dev/null; then
  curl -fL --retry 3 -o "$out" "$url" || { echo "$0: download failed: $url" >&2; exit 1; }
elif command -v wget >/dev/null; then
  wget -O "$out" "$url" || { echo "$0: download failed: $url" >&2; exit 1; }
else
  echo "$0: neither curl nor wget is installed; download $url by hand and pass $option" >&2
  exit 1
fi
