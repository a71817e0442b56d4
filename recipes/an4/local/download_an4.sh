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
# 1078 recordings: 948 training and 130 test utterances
exec "$(dirname "$0")/../../../scripts/download.sh" --url "$url" --sha256 "$sha256" \
  --dest "$dest" --complete "$dest/an4" --option --corpus-dir \
  --name "AN4 (CMU, BSD-style terms: keep the copyright notice)" \
  --files '*.sph' --min-files 1078 -- --no-same-owner an4/etc an4/wav
