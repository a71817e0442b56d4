#!/usr/bin/env bash
# Download Speech Commands v0.02 (the official archive, 105,829 clips, CC BY 4.0) into DEST
# in its own layout: DEST/<word>/<speaker>_nohash_<n>.wav, validation_list.txt, ...
# Usage: local/download_speech_commands.sh DEST
set -euo pipefail
# SPEECH_COMMANDS_URL overrides the source (a mirror, or a local file:// archive of the layout)
url=${SPEECH_COMMANDS_URL:-"http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"}
dest=${1:?usage: $0 DEST}
min_clips=${SPEECH_COMMANDS_MIN_CLIPS:-105000}  # the release has 105,829

if [ -f "$dest/.complete" ]; then
  echo "$0: $dest already holds Speech Commands v0.02"; exit 0
fi
mkdir -p "$dest"
echo "$0: downloading Speech Commands v0.02 (CC BY 4.0, 2.3 GB) into $dest"
tmp="$dest/speech_commands_v0.02.tar.gz.partial"
"$(dirname "$0")/../../../scripts/download.sh" "$url" "$tmp" --corpus-dir
tar -xzf "$tmp" -C "$dest"  # the archive has no top folder: word dirs and lists at its root
rm -f "$tmp"
n=$(find "$dest" -path "$dest/_background_noise_" -prune -o -name '*_nohash_*.wav' -print | wc -l)
[ "$n" -ge "$min_clips" ] || { echo "$0: expected >= $min_clips clips, found $n" >&2; exit 1; }
[ -f "$dest/testing_list.txt" ] || { echo "$0: no testing_list.txt in $url" >&2; exit 1; }
touch "$dest/.complete"
echo "$0: $n clips in $dest"
