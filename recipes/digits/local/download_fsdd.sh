#!/usr/bin/env bash
# Download the Free Spoken Digit Dataset at a pinned commit into DEST/recordings.
# Usage: local/download_fsdd.sh DEST
set -euo pipefail
commit=26eb9aaf76e81b692f806f9140c2d2777410d7a1
# FSDD_URL overrides the source (a mirror, or a local file:// archive of the same layout)
url=${FSDD_URL:-"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/$commit.tar.gz"}
dest=${1:?usage: $0 DEST}
exec "$(dirname "$0")/../../../scripts/download.sh" --url "$url" --dest "$dest" \
  --option --fsdd-dir --name "FSDD at $commit (CC BY-SA 4.0)" \
  --files '*.wav' --min-files 2500 \
  -- --strip-components=1 "free-spoken-digit-dataset-$commit/recordings"
