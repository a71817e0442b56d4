#!/usr/bin/env bash
# Download CMU's AN4 in NIST SPHERE (an4_sphere.tar.gz, 64 MB, the archive ESPnet and NeMo
# use) into DEST/an4 (etc/, wav/), checked against a pinned SHA-256 before it is unpacked.
# Usage: local/download_an4.sh DEST
set -euo pipefail
# AN4_URL overrides the source (CMU's own http://www.speech.cs.cmu.edu/databases/an4/, a
# mirror, or a local file:// copy); AN4_SHA256 the checksum when the archive differs.
url=${AN4_URL:-"https://dldata-public.s3.us-east-2.amazonaws.com/an4_sphere.tar.gz"}
sha256=${AN4_SHA256:-a0525579493735d32b60fb6fa5975dd0eaacde087b0a4eeb7f13b7ef33077b12}
dest=${1:?usage: $0 DEST}

if [ -f "$dest/an4/.complete" ]; then
  echo "$0: $dest/an4 already holds AN4"; exit 0
fi
mkdir -p "$dest"
echo "$0: downloading AN4 (CMU, BSD-style terms: keep the copyright notice) into $dest"
tmp="$dest/an4_sphere.tar.gz.partial"
"$(dirname "$0")/../../../scripts/download.sh" "$url" "$tmp" --corpus-dir "$sha256"
tar -xzf "$tmp" -C "$dest" --no-same-owner an4/etc an4/wav
rm -f "$tmp"
n=$(find "$dest/an4/wav" -name '*.sph' | wc -l)
[ "$n" -ge 1078 ] || { echo "$0: expected 1078 .sph files (948 train + 130 test), found $n" >&2
                       exit 1; }
touch "$dest/an4/.complete"
echo "$0: $n recordings in $dest/an4"
