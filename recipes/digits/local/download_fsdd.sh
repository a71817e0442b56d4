#!/usr/bin/env bash
# Download the Free Spoken Digit Dataset at a pinned commit into DEST/recordings.
# Usage: local/download_fsdd.sh DEST
set -euo pipefail
commit=26eb9aaf76e81b692f806f9140c2d2777410d7a1
# FSDD_URL overrides the source (a mirror, or a local file:// archive of the same layout)
url=${FSDD_URL:-"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/$commit.tar.gz"}
dest=${1:?usage: $0 DEST}

if [ -f "$dest/.complete" ]; then
  echo "$0: $dest already holds FSDD ($commit)"; exit 0
fi
mkdir -p "$dest"
echo "$0: downloading FSDD at $commit (CC BY-SA 4.0) into $dest"
tmp="$dest/fsdd.tar.gz.partial"
"$(dirname "$0")/../../../scripts/download.sh" "$url" "$tmp" --fsdd-dir
tar -xzf "$tmp" -C "$dest" --strip-components=1 "free-spoken-digit-dataset-$commit/recordings"
rm -f "$tmp"
n=$(find "$dest/recordings" -name '*.wav' | wc -l)
[ "$n" -ge 2500 ] || { echo "$0: expected >= 2500 recordings, found $n" >&2; exit 1; }
touch "$dest/.complete"
echo "$0: $n recordings in $dest/recordings"
