"""Decode audio files and ``cmd |`` pipe output with soundfile (libsndfile), in int16 scale.

What libsndfile reads is read natively: WAV (8/16/24/32-bit int, 32/64-bit float), FLAC,
NIST SPHERE (uncompressed), AIFF, Ogg, MP3 and more. A headerless raw PCM file says
nothing of its rate, width or byte order, so those come from a :class:`RawFormat`.

A wav.scp pipe is run to completion and its stdout decoded from memory, as Kaldi reads
it: whatever WAV/FLAC/... the command writes. Running this module turns a raw file into
a WAV on stdout, a wav.scp spelling for raw audio that needs no sox::

    python -m asr.data.audio_formats --rate 16000 --width 2 --byte-order big an4/x.raw |
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from asr.errors import DataError

RAW_SUFFIXES = (".raw", ".pcm")  # headerless PCM: the format must be stated
INT16_SCALE = 32768.0  # Kaldi's fbank expects 16-bit sample values
_STDERR_TAIL_CHARS = 300

# a segment may end this far past its recording and is cut there, as Kaldi's
# extract-segments --max-overshoot; ending later, it names audio that does not exist
MAX_OVERSHOOT_S = 0.5


def seconds_to_samples(seconds: float, rate: int) -> int:
    """Rounded, not truncated as Kaldi's extract-segments does: 0.57 s x 100 Hz is 57, not 56."""
    return int(round(seconds * rate))


@dataclass(frozen=True)
class RawFormat:
    """How to read a headerless PCM file (nothing in the file says it, so the user must).

    ``width`` is bytes per sample: 2, 3 or 4 for ``encoding='signed'`` (PCM), 4 or 8 for
    ``'float'`` (IEEE). AN4's ``.raw`` files are ``RawFormat(16000, 2, 'big')``.
    """

    rate: int
    width: int = 2
    byte_order: str = "little"
    channels: int = 1
    encoding: str = "signed"

    def __post_init__(self) -> None:
        widths = {"signed": (2, 3, 4), "float": (4, 8)}
        if self.encoding not in widths:
            raise ValueError(f"raw encoding must be 'signed' or 'float', not {self.encoding!r}")
        if self.width not in widths[self.encoding]:
            raise ValueError(f"raw {self.encoding} width must be one of "
                             f"{widths[self.encoding]} bytes, not {self.width!r}")
        if self.byte_order not in ("little", "big"):
            raise ValueError(f"raw byte_order must be 'little' or 'big', not {self.byte_order!r}")
        if not (isinstance(self.rate, int) and self.rate > 0):
            raise ValueError(f"raw rate must be a positive integer (Hz), not {self.rate!r}")
        if not (isinstance(self.channels, int) and self.channels > 0):
            raise ValueError(f"raw channels must be a positive integer, not {self.channels!r}")

    @property
    def subtype(self) -> str:
        """libsndfile's name of the sample encoding: PCM_16, PCM_24, PCM_32, FLOAT, DOUBLE."""
        if self.encoding == "float":
            return "FLOAT" if self.width == 4 else "DOUBLE"
        return f"PCM_{8 * self.width}"

    @property
    def frame_bytes(self) -> int:
        return self.width * self.channels

    def soundfile_args(self) -> dict:
        """Keyword arguments that make soundfile.SoundFile read such a file."""
        return dict(format="RAW", subtype=self.subtype, samplerate=self.rate,
                    channels=self.channels, endian=self.byte_order.upper())

    def sox_args(self) -> str:
        """The same format as sox input options: ``-t raw -r 16000 -e signed -b 16 -B``."""
        return (f"-t raw -r {self.rate} -c {self.channels} -e {self.encoding} "
                f"-b {8 * self.width} {'-B' if self.byte_order == 'big' else '-L'}")


def is_raw_name(path: str) -> bool:
    """Whether a file name says headerless PCM (``.raw``/``.pcm``), whose format must be stated."""
    return Path(path).suffix.lower() in RAW_SUFFIXES


def raw_format_needed(path: str) -> str:
    """The reason, for an error message, that a ``.raw`` file needs its format stated."""
    return (f"{Path(path).suffix} is headerless PCM: nothing in it says its rate, width or "
            "byte order; state them in wav.scp with a pipe, e.g. "
            f"'sox -t raw -r 16000 -e signed -b 16 -B {path} -t wav - |' or "
            f"'python -m asr.data.audio_formats --rate 16000 --width 2 --byte-order big {path} |'"
            " (AN4's format), or pass raw=RawFormat(...) to load_audio (docs/interop.md)")


_SIGNATURES = (  # (offset, magic, what a file starting so is) for files libsndfile refuses
    (4, b"ftyp", "an MP4/M4A/MOV container; convert it, e.g. 'ffmpeg -i FILE -f wav - |'"),
    (0, b"\x1aE\xdf\xa3", "a Matroska/WebM container; convert it, e.g. "
                          "'ffmpeg -i FILE -f wav - |'"),
    (0, b"NIST_1A", "a NIST SPHERE file with a coding libsndfile lacks (shorten-compressed?); "
                    "decompress it, e.g. 'sph2pipe -f wav FILE |'"),
    (0, b"RIFF", "a RIFF file with a damaged header or an unsupported encoding"),
    (0, b"OggS", "an Ogg stream with a codec libsndfile lacks"),
    (0, b"\x00B", "a Kaldi binary object, not audio (a feats.scp entry in wav.scp?)"),
)


def describe_unreadable(head: bytes) -> str:
    """What a file libsndfile cannot open probably is, from its first bytes."""
    if not head:
        return "empty (0 bytes)"
    for offset, magic, what in _SIGNATURES:
        if head[offset:offset + len(magic)] == magic:
            return what
    if all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return "text"
    return ("no audio header libsndfile knows; if it is headerless raw PCM, name it .raw and "
            "state its format (docs/interop.md)")


def _fix_streamed_wav(data: bytes) -> bytes:
    """A WAV written to a pipe cannot seek back to fill in its sizes; like Kaldi, read a zero
    data-chunk size as 'to the end' (libsndfile would read 0 samples)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return data
    pos = 12
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        if data[pos:pos + 4] == b"data":
            if size == 0 and len(data) > pos + 8:
                fixed = min(len(data) - pos - 8, 0xFFFFFFFF).to_bytes(4, "little")
                return data[:pos + 4] + fixed + data[pos + 8:]
            return data
        pos += 8 + size + (size & 1)  # RIFF chunks are padded to even sizes
    return data


def run_pipe(rxfilename: str, where: str) -> bytes:
    """Run the command of a ``cmd |`` wav.scp value in a shell (as Kaldi does) and return all
    of its stdout; a non-zero exit or no output is a DataError with its stderr's tail."""
    command = rxfilename.rstrip()[:-1].strip()
    fail = f"{where}: cannot read audio '{rxfilename}': command '{command}'"
    try:
        proc = subprocess.run(command, shell=True, stdin=subprocess.DEVNULL,
                              capture_output=True, check=False)
    except OSError as e:
        raise DataError(f"{fail} could not be started: {e}") from None
    if proc.returncode != 0:
        status = (f"was killed by signal {-proc.returncode}" if proc.returncode < 0
                  else f"exited with status {proc.returncode}")
        raise DataError(f"{fail} {status}{_stderr_tail(proc.stderr)}")
    if not proc.stdout:
        raise DataError(f"{fail} wrote nothing to stdout{_stderr_tail(proc.stderr)}")
    return _fix_streamed_wav(proc.stdout)


def _stderr_tail(stderr: bytes) -> str:
    text = " / ".join(ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines()
                      if ln.strip())
    if not text:
        return " (no stderr)"
    return ": stderr: " + (text if len(text) <= _STDERR_TAIL_CHARS
                           else "..." + text[-_STDERR_TAIL_CHARS:])


def read_sound(source: str | bytes, name: str, where: str, start: float = 0.0,
               end: float = -1.0, raw: RawFormat | None = None) -> tuple[np.ndarray, int]:
    """Decode a file path or in-memory file (``bytes``, e.g. a pipe's stdout) with soundfile.

    Returns (samples (S, C) float32 in int16 scale, rate): every format is read as float64
    and scaled by 32768, so 16-bit values come out exactly, float audio is never zeroed and
    float values beyond +-1.0 are kept (scaled), not clipped or wrapped. ``start``/``end``
    (seconds, end < 0 = to the end) cut a segment; ``raw`` reads headerless PCM.
    ``name`` (the wav.scp value) and ``where`` (the utterance) go into every error.
    """
    fail = f"{where}: cannot read audio '{name}'"
    if isinstance(source, bytes):
        head, size, src = source[:64], len(source), io.BytesIO(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise DataError(f"{fail}: " + ("it is a directory" if path.is_dir()
                                           else "file not found"))
        size, src = path.stat().st_size, source
        with open(path, "rb") as f:
            head = f.read(64)
    if size == 0:
        raise DataError(f"{fail}: the file is empty (0 bytes)")
    if raw is not None and size % raw.frame_bytes:
        raise DataError(f"{fail}: {size} bytes is not a whole number of {raw.frame_bytes}-byte "
                        f"frames ({raw.channels} channel(s) x {raw.width} bytes); is the raw "
                        "format right?")
    try:
        sound = soundfile.SoundFile(src, **(raw.soundfile_args() if raw else {}))
    except soundfile.LibsndfileError as e:
        raise DataError(f"{fail}: not audio that soundfile can read ({describe_unreadable(head)};"
                        f" libsndfile: {e.error_string.rstrip('.')})") from None
    with sound:
        rate = sound.samplerate
        first = seconds_to_samples(start, rate)
        if first > 0 and first >= sound.frames:
            raise DataError(f"{fail}: the segment starts at {start} s, after the end of the audio "
                            f"({sound.frames / rate:.3f} s)")
        if end >= 0 and end > sound.frames / rate + MAX_OVERSHOOT_S:
            raise DataError(f"{fail}: the segment ends at {end} s, {end - sound.frames / rate:.2f}"
                            f" s after the end of the audio ({sound.frames / rate:.3f} s; "
                            f"Kaldi's extract-segments cuts up to {MAX_OVERSHOOT_S} s of "
                            "overshoot): check segments against the recording ('asr "
                            "validate-data' lists them, 'asr fix-data' drops them)")
        count = max(seconds_to_samples(end, rate) - first, 0) if end >= 0 else -1
        try:
            if first:
                sound.seek(first)
            data = sound.read(count, dtype="float64", always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError) as e:
            raise DataError(f"{fail}: {sound.format} data is damaged: {e}") from None
        if sound.subtype in ("FLOAT", "DOUBLE", "VORBIS", "OPUS") and \
                not np.isfinite(data).all():
            raise DataError(f"{fail}: the float samples include NaN or infinity")
    return (data * INT16_SCALE).astype(np.float32), int(rate)


def raw_to_wav(path: str, raw: RawFormat) -> bytes:
    """A headerless PCM file as the bytes of a WAV file of the same encoding (lossless)."""
    where = "raw_to_wav"
    if not Path(path).is_file():
        raise DataError(f"{where}: '{path}': file not found")
    with soundfile.SoundFile(path, **raw.soundfile_args()) as f:
        # int32 for integer PCM: libsndfile shifts 16/24-bit values up losslessly and back
        data = f.read(dtype="float64" if raw.encoding == "float" else "int32", always_2d=True)
    out = io.BytesIO()
    soundfile.write(out, data, raw.rate, subtype=raw.subtype, format="WAV")
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    """``python -m asr.data.audio_formats --rate R [--width W] [--byte-order O] FILE``."""
    p = argparse.ArgumentParser(
        prog="python -m asr.data.audio_formats",
        description="Write a headerless raw PCM file to stdout as a WAV file of the same "
                    "encoding, for a wav.scp pipe: 'u1 python -m asr.data.audio_formats "
                    "--rate 16000 --width 2 --byte-order big u1.raw |'.")
    p.add_argument("file", help="the raw file")
    p.add_argument("--rate", type=int, required=True, help="sample rate in Hz")
    p.add_argument("--width", type=int, default=2, help="bytes per sample (default 2)")
    p.add_argument("--byte-order", choices=("little", "big"), default="little")
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--encoding", choices=("signed", "float"), default="signed")
    args = p.parse_args(argv)
    try:
        raw = RawFormat(args.rate, args.width, args.byte_order, args.channels, args.encoding)
        data = raw_to_wav(args.file, raw)
    except (ValueError, DataError, soundfile.LibsndfileError) as e:
        print(f"{p.prog}: error: {e}", file=sys.stderr)
        return 2
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
