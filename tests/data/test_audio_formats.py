"""load_audio reads every format libsndfile knows to the same int16-scale samples, from a
file or a ``cmd |`` pipe; float audio is scaled (never zeroed or wrapped), raw PCM needs its
format stated, multi-channel needs a channel chosen, and bad input is a one-line DataError."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from asr.data.audio import RawFormat, load_audio, load_raw
from asr.data.audio_formats import _fix_streamed_wav, main
from asr.errors import DataError

RATE = 16000
# 16-bit values, extremes included: every lossless format must give them back exactly
INT16 = np.concatenate([[-32768, 32767, 0, 1, -1],
                        np.random.default_rng(0).integers(-32768, 32768, 995)]).astype(np.int16)
EXPECTED = INT16.astype(np.float32)

# (file name, soundfile.write keyword arguments, the array written)
FORMATS = {
    "pcm16.wav": (dict(subtype="PCM_16"), INT16),
    "pcm24.wav": (dict(subtype="PCM_24"), INT16.astype(np.int32) << 16),
    "pcm32.wav": (dict(subtype="PCM_32"), INT16.astype(np.int32) << 16),
    "float32.wav": (dict(subtype="FLOAT"), INT16 / np.float32(32768)),
    "float64.wav": (dict(subtype="DOUBLE"), INT16 / 32768.0),
    "pcm16.flac": (dict(subtype="PCM_16"), INT16),
    "pcm24.flac": (dict(subtype="PCM_24"), INT16.astype(np.int32) << 16),
    "pcm16.sph": (dict(format="NIST", subtype="PCM_16"), INT16),
}


def write(path: Path, data: np.ndarray, **kwargs) -> str:
    soundfile.write(path, data, RATE, **kwargs)
    return str(path)


def load(rx: str, **kwargs) -> np.ndarray:
    samples, rate = load_audio(rx, "u1", **kwargs)
    assert rate == RATE and samples.dtype.is_floating_point and samples.ndim == 1
    return samples.numpy()


@pytest.mark.parametrize("name", FORMATS)
def test_every_lossless_format_gives_the_same_samples_from_a_file_and_a_pipe(tmp_path, name):
    kwargs, data = FORMATS[name]
    path = write(tmp_path / name, data, **kwargs)
    assert soundfile.info(path).subtype == kwargs["subtype"]  # really that encoding
    np.testing.assert_array_equal(load(path), EXPECTED)
    np.testing.assert_array_equal(load(f"cat {shlex.quote(path)} |"), EXPECTED)
    # a segment: 0.01 s .. 0.02 s is samples 160 .. 320, from a file and a pipe alike
    np.testing.assert_array_equal(load(path, start=0.01, end=0.02), EXPECTED[160:320])
    np.testing.assert_array_equal(load(f"cat {path} |", start=0.01, end=0.02), EXPECTED[160:320])


@pytest.mark.parametrize("byte_order", ["big", "little"])
def test_headerless_raw_reads_with_its_format_stated(tmp_path, byte_order):
    raw = tmp_path / "an4.raw"  # AN4's .raw: 16 kHz 16-bit big-endian mono, no header
    raw.write_bytes(INT16.astype(">i2" if byte_order == "big" else "<i2").tobytes())
    fmt = RawFormat(RATE, 2, byte_order)
    np.testing.assert_array_equal(load(str(raw), raw=fmt), EXPECTED)
    samples, rate = load_raw(raw, RATE, 2, byte_order)
    assert rate == RATE and np.array_equal(samples.numpy(), EXPECTED)
    # the wav.scp spelling that needs no sox: this module writes it to stdout as WAV
    cmd = (f"{shlex.quote(sys.executable)} -m asr.data.audio_formats --rate {RATE} --width 2 "
           f"--byte-order {byte_order} {raw} |")
    np.testing.assert_array_equal(load(cmd), EXPECTED)
    wrong = RawFormat(RATE, 2, "little" if byte_order == "big" else "big")
    assert not np.array_equal(load(str(raw), raw=wrong), EXPECTED)  # the order matters


def test_raw_without_its_format_says_how_to_state_it(tmp_path):
    raw = tmp_path / "x.raw"
    raw.write_bytes(INT16.astype(">i2").tobytes())
    with pytest.raises(DataError) as e:
        load_audio(str(raw), "u1")
    msg = str(e.value)
    assert msg.startswith(f"utterance 'u1': cannot read audio '{raw}'") and "\n" not in msg
    assert "sox -t raw -r 16000 -e signed -b 16 -B" in msg and "RawFormat" in msg
    raw.write_bytes(b"\0" * 5)  # odd size: not whole 16-bit samples
    with pytest.raises(DataError, match="5 bytes is not a whole number of 2-byte frames"):
        load_raw(raw, RATE, 2, "big")
    with pytest.raises(DataError, match="byte_order must be 'little' or 'big'"):
        load_raw(raw, RATE, 2, "middle")


def test_raw_to_wav_command_is_lossless_for_24_bit_and_reports_bad_options(tmp_path, capfd):
    v = (INT16.astype(np.int64) * 256 + 77).astype("<i4")  # 24-bit values, low byte set
    raw = tmp_path / "x.pcm"
    raw.write_bytes(b"".join(int(x).to_bytes(3, "little", signed=True) for x in v))
    out = subprocess.run([sys.executable, "-m", "asr.data.audio_formats", "--rate", "8000",
                          "--width", "3", str(raw)], capture_output=True, check=True).stdout
    (tmp_path / "x.wav").write_bytes(out)
    samples, rate = load_audio(str(tmp_path / "x.wav"))
    assert rate == 8000 and np.array_equal(samples.numpy(), v / 256.0)  # exact in float32
    assert main(["--rate", "8000", "--width", "5", str(raw)]) == 2
    assert "width must be one of (2, 3, 4)" in capfd.readouterr().err


def test_float_audio_is_scaled_and_values_beyond_one_are_kept(tmp_path):
    x = np.array([0.5, -0.25, 1.5, -2.0, 1.0, 0.0], np.float32)
    path = write(tmp_path / "loud.wav", x, subtype="FLOAT")
    expected = [16384.0, -8192.0, 49152.0, -65536.0, 32768.0, 0.0]
    np.testing.assert_array_equal(load(path), expected)
    np.testing.assert_array_equal(load(f"cat {path} |"), expected)


def test_float_nan_is_an_error_and_silence_is_fine(tmp_path):
    nan = write(tmp_path / "nan.wav", np.array([0.1, np.nan], np.float32), subtype="FLOAT")
    with pytest.raises(DataError, match="NaN or infinity"):
        load_audio(nan, "u1")
    for subtype in ("PCM_16", "FLOAT"):
        zeros = write(tmp_path / f"zeros-{subtype}.wav", np.zeros(400, np.float32),
                      subtype=subtype)
        np.testing.assert_array_equal(load(zeros), np.zeros(400, np.float32))


def test_multi_channel_needs_a_channel_chosen(tmp_path):
    stereo = np.stack([INT16, -(INT16.astype(np.int32) + 1)], axis=1).astype(np.int16)
    for path in (write(tmp_path / "st.wav", stereo, subtype="PCM_16"),
                 write(tmp_path / "st.flac", stereo, subtype="PCM_16")):
        for rx in (path, f"cat {path} |"):
            with pytest.raises(DataError) as e:
                load_audio(rx, "u1")
            msg = str(e.value)
            assert f"utterance 'u1': audio '{rx}' has 2 channels" in msg and "\n" not in msg
            assert "--channel N' (0..1)" in msg and "remix 1" in msg
            np.testing.assert_array_equal(load(rx, channel=0), EXPECTED)
            np.testing.assert_array_equal(load(rx, channel=1), stereo[:, 1].astype(np.float32))
            with pytest.raises(DataError, match="channel 2 was asked for but .* has 2 channel"):
                load_audio(rx, "u1", channel=2)
    mono = write(tmp_path / "mono.wav", INT16, subtype="PCM_16")
    np.testing.assert_array_equal(load(mono, channel=0), EXPECTED)
    with pytest.raises(DataError, match="channel -1 was asked for"):
        load_audio(mono, "u1", channel=-1)


def test_failing_or_silent_commands_are_clear_errors(tmp_path):
    cmd = "echo 'sox FAIL formats: no handler' >&2; exit 3"
    with pytest.raises(DataError) as e:
        load_audio(f"{cmd} |", "u1")
    msg = str(e.value)
    assert msg.startswith(f"utterance 'u1': cannot read audio '{cmd} |': command '{cmd}' "
                          "exited with status 3: stderr: sox FAIL formats: no handler")
    with pytest.raises(DataError, match="command 'true' wrote nothing to stdout"):
        load_audio("true |", "u1")
    with pytest.raises(DataError, match="refused"):
        load_audio(f"touch {tmp_path / 'MARKER'} |", "u1", allow_pipes=False)
    assert not (tmp_path / "MARKER").exists()


def test_non_audio_is_a_one_line_error_naming_the_file(tmp_path):
    mp4 = tmp_path / "x.mp4"
    mp4.write_bytes(b"\0\0\0\x20ftypisom" + bytes(100))
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    for path, what in ((mp4, "MP4"), (text, "text"), (empty, "the file is empty")):
        for rx in (str(path), f"cat {path} |"):
            with pytest.raises(DataError) as e:
                load_audio(rx, "u1")
            msg = str(e.value)
            assert msg.startswith(f"utterance 'u1': cannot read audio '{rx}'"), msg
            assert "\n" not in msg and (what in msg or "wrote nothing" in msg), msg
    with pytest.raises(DataError, match="not audio that soundfile can read .*Format not recog"):
        load_audio(str(mp4), "u1")
    shorten = tmp_path / "a.sph"  # LDC's shorten-compressed SPHERE: libsndfile lacks it
    shorten.write_bytes(b"NIST_1A\n   1024\nsample_coding -s26 pcm,embedded-shorten-v2.00\n"
                        b"channel_count -i 1\nsample_rate -i 16000\nend_head\n".ljust(1024)
                        + bytes(range(256)))
    with pytest.raises(DataError, match="NIST SPHERE .*'sph2pipe -f wav FILE"):
        load_audio(str(shorten), "u1")
    with pytest.raises(DataError, match="missing.wav': file not found"):
        load_audio(str(tmp_path / "missing.wav"), "u1")


def test_segment_past_the_end_is_an_error(tmp_path):
    path = write(tmp_path / "a.wav", INT16, subtype="PCM_16")  # 1000 samples: 0.0625 s
    with pytest.raises(DataError, match="starts at 0.1 s, after the end of the audio"):
        load_audio(path, "u1", start=0.1, end=0.2)


def test_streamed_wav_with_zero_data_size_reads_to_the_end(tmp_path):
    """A WAV written to a pipe cannot fill in its sizes; Kaldi reads size 0 as 'to the end'."""
    path = write(tmp_path / "a.wav", INT16, subtype="PCM_16")
    data = bytearray(Path(path).read_bytes())
    at = data.index(b"data") + 4
    data[at:at + 4] = bytes(4)
    data[4:8] = bytes(4)
    (tmp_path / "streamed.wav").write_bytes(bytes(data))
    assert _fix_streamed_wav(bytes(data)) != bytes(data)
    np.testing.assert_array_equal(load(f"cat {tmp_path / 'streamed.wav'} |"), EXPECTED)
