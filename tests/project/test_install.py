"""What a new machine gets: the exact torch/torchaudio pair, and one line when it breaks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def pins() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    out = {}
    for dep in deps:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", dep)
        out[m.group(1).lower()] = m.group(2)
    return out


def test_the_compiled_pair_is_pinned_exactly_and_installed_as_pinned():
    p = pins()
    for dist in ("torch", "torchaudio"):
        assert re.fullmatch(r"==\d+\.\d+\.\d+", p[dist]), f"{dist} must be pinned by full " \
            f"version, not '{p[dist]}'"
        assert metadata.version(dist) == p[dist][2:], f"installed {dist} differs from the pin"
    assert p["torch"] == p["torchaudio"], "torch and torchaudio are released as a pair"
    unbounded = [d for d, spec in p.items() if d not in ("torch", "torchaudio") and "<" not in spec]
    assert not unbounded, f"bound these below the next major release: {unbounded}"


def test_a_torchaudio_that_cannot_load_is_one_line_naming_both_versions(tmp_path):
    fake = tmp_path / "torchaudio"
    fake.mkdir()
    (fake / "__init__.py").write_text(  # what a mismatched libtorchaudio.so does on import
        'raise OSError("Could not load this library: libtorchaudio.so: undefined symbol: '
        '_ZN3c10xyz")\n')
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    r = subprocess.run([sys.executable, "-m", "asr", "cmvn", str(tmp_path / "data")], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    torch_v, ta_v = metadata.version("torch"), metadata.version("torchaudio")
    assert lines[0] == (
        f"asr cmvn: error: torchaudio {ta_v} cannot load its compiled library against torch "
        f"{torch_v} (undefined symbol: _ZN3c10xyz); the two must be a matched pair: "
        f"pip install torch=={torch_v} torchaudio=={ta_v}")
