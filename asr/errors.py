"""User-facing errors: raised for bad input, printed by the CLI without a traceback."""

import sys


class AsrError(Exception):
    """An error the user can fix: the message names the file, line or utterance."""


class ConfigError(AsrError):
    """A config file or override is wrong: unknown key, wrong type, bad value."""


class DataError(AsrError):
    """A data dir, feature archive or transcript is inconsistent or unreadable."""


class CheckpointError(AsrError):
    """A checkpoint or model file is unreadable, corrupted, or not safe to load."""


# kaldiio reads bytes inside ``assert`` statements, which ``python -O`` strips: the reads
# would silently return shifted, wrong matrices.
OPTIMIZE_MESSAGE = ("refusing to run under 'python -O' (or PYTHONOPTIMIZE): kaldiio reads "
                    "data inside assert statements, which -O removes, so features would be "
                    "read wrongly without an error; run without -O")


def refuse_optimized() -> None:
    """Raise AsrError under ``python -O``; called wherever kaldiio reads are about to happen."""
    if sys.flags.optimize:
        raise AsrError(OPTIMIZE_MESSAGE)
