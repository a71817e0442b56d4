"""User-facing errors: raised for bad input, printed by the CLI without a traceback."""


class AsrError(Exception):
    """An error the user can fix: the message names the file, line or utterance."""


class ConfigError(AsrError):
    """A config file or override is wrong: unknown key, wrong type, bad value."""


class DataError(AsrError):
    """A data dir, feature archive or transcript is inconsistent or unreadable."""
