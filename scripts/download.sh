#!/usr/bin/env bash
# Download URL to OUT with curl (or wget), for the recipes' corpus downloads.
# Usage: scripts/download.sh URL OUT OPTION [SHA256]   (OPTION: the recipe option that points
# at a corpus fetched by hand, named in the errors; SHA256: OUT must have this checksum, else
# it is removed and the download fails, so a changed or truncated archive is never unpacked)
set -euo pipefail
url=${1:?usage: $0 URL OUT OPTION [SHA256]} out=${2:?usage: $0 URL OUT OPTION [SHA256]}
option=${3:-} sha256=${4:-}
if command -v curl >/dev/null; then
  curl -fL --retry 3 -o "$out" "$url" || { echo "$0: download failed: $url" >&2; exit 1; }
elif command -v wget >/dev/null; then
  wget -O "$out" "$url" || { echo "$0: download failed: $url" >&2; exit 1; }
else
  echo "$0: neither curl nor wget is installed; download $url by hand and pass $option" >&2
  exit 1
fi
if [ -n "$sha256" ]; then
  got=$(sha256sum "$out" | cut -d' ' -f1)
  if [ "$got" != "$sha256" ]; then
    echo "$0: $url has SHA-256 $got, expected $sha256: not unpacked (a changed or" \
      "truncated archive; fetch it by hand and pass $option if you trust it)" >&2
    rm -f "$out"; exit 1
  fi
fi
