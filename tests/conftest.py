import logging
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Under pytest-xdist the workers share the cores: torch in each worker, and every asr
# command a test starts, gets its share of them instead of all (oversubscribed OpenMP
# threads spin and slow everything down).
if os.environ.get("PYTEST_XDIST_WORKER"):
    _workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _workers)))


def _real_corpus(env: str, default: str, pattern: str, what: str) -> Path:
    """A real corpus from ``$env`` or ../shared/data/``default``; the end-to-end tests fail,
    never skip, without it (CI sets every such variable)."""
    value = os.environ.get(env)
    path = Path(value) if value else REPO.parent / "shared/data" / default
    if path.is_dir() and any(path.glob(pattern)):
        return path
    pytest.fail(f"{what} not found at {path}: set {env} (../shared/data/{default})")


@pytest.fixture(scope="session")
def fsdd_dir() -> Path:
    """The real FSDD recordings ({digit}_{speaker}_{index}.wav)."""
    return _real_corpus("FSDD_DIR", "fsdd/recordings", "*_*_*.wav",
                        "FSDD recordings ({digit}_{speaker}_{index}.wav)")


@pytest.fixture(scope="session")
def yesno_dir() -> Path:
    """Kaldi's 60 real waves_yesno files."""
    return _real_corpus("YESNO_DIR", "yesno/waves_yesno", "*_*_*_*_*_*_*_*.wav",
                        "waves_yesno (0_1_1_0_0_1_1_0.wav ...)")


@pytest.fixture(scope="session")
def an4_dir() -> Path:
    """CMU AN4's training part, the official layout (etc/, wav/an4_clstk/)."""
    return _real_corpus("AN4_DIR", "an4", "wav/an4_clstk/*/*", "AN4 (the an4 folder)")


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
    """End-to-end tests are slow by nature: `-m "not slow"` leaves them out too. Files with
    end-to-end tests run first (a stable sort: the same order on every xdist worker), so the
    minutes-long recipe runs start at once on the workers and the short tests fill in after,
    instead of one recipe run alone at the end."""
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.slow)
    e2e_files = {item.path for item in items if item.get_closest_marker("e2e")}
    items.sort(key=lambda item: item.path not in e2e_files)
