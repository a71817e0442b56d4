import logging
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


@pytest.fixture(scope="session")
def baseline(corpus, tmp_path_factory) -> Path:
    """An uninterrupted training run on ``corpus``: what every resumed run must equal."""
    from train_helpers import finish, train_cmd

    exp = tmp_path_factory.mktemp("baseline") / "exp"
    assert finish(train_cmd(corpus, exp), exp) == 0, (exp / "stdout.txt").read_text()
    return exp


@pytest.fixture(autouse=True)
def _no_stale_log_handlers():
    """main() logs to the stderr of its time (capsys's, closed after each test): drop those
    handlers so a later test never writes to a closed stream."""
    yield
    logging.getLogger().handlers.clear()


def pytest_collection_modifyitems(items):
    """End-to-end tests are slow by nature: `-m "not slow"` leaves them out too."""
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.slow)
