import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def fsdd_dir() -> Path:
    """The real FSDD recordings; the end-to-end tests need them (CI sets FSDD_DIR)."""
    value = os.environ.get("FSDD_DIR")
    candidates = [Path(value)] if value else [REPO.parent / "shared/data/fsdd/recordings"]
    for c in candidates:
        if c.is_dir() and any(c.glob("*_*_*.wav")):
            return c
    pytest.fail("FSDD recordings not found: set FSDD_DIR to the folder of "
                "{digit}_{speaker}_{index}.wav files (../shared/data/fsdd/recordings)")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """A tiny featurized corpus for training tests (see tests/train_helpers.py)."""
    from train_helpers import make_corpus

    return make_corpus(tmp_path_factory.mktemp("corpus"))
