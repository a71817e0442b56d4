#!/usr/bin/env bash
# Download a corpus archive, check it, unpack it and mark it complete: what each
# recipes/*/local/download_*.sh does, written once. With curl (or wget).
#   scripts/download.sh --url URL --dest DEST --name "AN4 (CMU, BSD-style terms)" \
#     --option --corpus-dir [--sha256 SUM] [--complete DIR] [--files GLOB --min-files N] \
#     [--require FILE] [-- TAR_OPTION... MEMBER...]
# Nothing happens when DIR (default DEST) has a .complete file. Else URL is fetched into
# DEST/<its file name>.partial; with --sha256 that must be its checksum, else it is removed
# and nothing is unpacked (a changed or truncated archive); it is unpacked with
# `tar -xzf ARCHIVE -C DEST TAR_OPTION... MEMBER...` and removed. Then
# DIR must hold at least N files named GLOB and the file DIR/FILE, and DIR/.complete is
# written. NAME (what is fetched, and its terms) is for the log; OPTION is the recipe option
# that points at a corpus fetched by hand, named in the errors.
set -euo pipefail
url=
dest=
name=corpus
option=
sha256=
complete=
files=
min_files=1
require=
help_message="Usage: $0 --url URL --dest DEST [options] [-- TAR_OPTION... MEMBER...]"
. "$(dirname "$(readlink -f "$0")")/parse_options.sh"

if [ -z "$url" ] || [ -z "$dest" ]; then echo "$0: --url and --dest are required" >&2; exit 1; fi
complete=${complete:-$dest}
if [ -f "$complete/.complete" ]; then
  echo "$0: $complete already holds $name"; exit 0
fi
mkdir -p "$dest"
echo "$0: downloading $name into $dest"
archive=$dest/${url##*/}.partial
if command -v curl >/dev/null; then
  curl -fL --retry 3 -o "$archive" "$url" || { echo "$0: download failed: $url" >&2; exit 1; }
elif command -v wget >/dev/null; then
  wget -O "$archive" "$url" || { echo "$0: download failed: $url" >&2; exit 1; }
else
  echo "$0: neither curl nor wget is installed; download $url by hand and pass $option" >&2
  exit 1
fi
if [ -n "$sha256" ]; then
  got=$(sha256sum "$archive" | cut -d' ' -f1)
  if [ "$got" != "$sha256" ]; then
    echo "$0: $url has SHA-256 $got, expected $sha256: not unpacked (a changed or" \
      "truncated archive; fetch it by hand and pass $option if you trust it)" >&2
    rm -f "$archive"; exit 1
  fi
fi
tar -xzf "$archive" -C "$dest" "$@"
rm -f "$archive"
found=
if [ -n "$files" ]; then
  n=$(find "$complete" -name "$files" | wc -l)
  [ "$n" -ge "$min_files" ] || { echo "$0: $name: expected at least $min_files files" \
    "named '$files' in $complete, found $n" >&2; exit 1; }
  found=" ($n files named '$files')"
fi
if [ -n "$require" ] && [ ! -f "$complete/$require" ]; then
  echo "$0: $name: no $require in $url" >&2; exit 1
fi
touch "$complete/.complete"
echo "$0: $name in $complete$found"
