"""Configs: YAML -> typed frozen dataclasses (:mod:`.schema`), ``extends:`` and dotted
overrides (:mod:`.loader`), and the generated reference (:mod:`.reference`)."""

from asr.config.loader import (
    apply_overrides,
    config_from_dict,
    config_hash,
    config_to_dict,
    dump_config,
    load_config,
    save_config,
)

__all__ = ["apply_overrides", "config_from_dict", "config_hash", "config_to_dict",
           "dump_config", "load_config", "save_config"]
