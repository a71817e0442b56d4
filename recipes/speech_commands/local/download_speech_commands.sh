#!/usr/bin/env bash
# Download Speech Commands v0.02 (the official archive, 105,829 clips, CC BY 4.0) into DEST
# in its own layout: DEST/<word>/<speaker>_nohash_<n>.wav, validation_list.txt, ...
# Usage: local/download_speech_commands.sh DEST
set -euo pipefail
# SPEECH_COMMANDS_URL overrides the source (a mirror, or a local file:// archive of the layout)
url=${SPEECH_COMMANDS_URL:-"http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"}
dest=${1:?usage: $0 DEST}
min_clips=${SPEECH_COMMANDS_MIN_CLIPS:-105000}  # the release has 105,829
# the archive has no top folder: word dirs and lists at its root
exec "$(dirname "$0")/../../../scripts/download.sh" --url "$url" --dest "$dest" \
  --option --corpus-dir --name "Speech Commands v0.02 (CC BY 4.0, 2.3 GB)" \
  --files '*_nohash_*.wav' --min-files "$min_clips" --require testing_list.txt
