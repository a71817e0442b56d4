"""YAML configs as typed, frozen dataclasses.

A YAML file may name a base file with ``extends:`` (relative to itself); mappings merge
recursively and the child wins. Dotted overrides (``optim.lr=2e-3``) apply last. Unknown
keys, missing required keys and wrong types are errors that name the key and the file (or
the override) they came from. The schema itself lives in :mod:`asr.config.schema`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from asr.errors import ConfigError

T = TypeVar("T")
_CLI = "command line"


def _read_yaml(path: Path, chain: tuple[Path, ...]) -> tuple[dict, dict[str, str]]:
    """Read one YAML file and its ``extends`` chain; return (merged dict, key -> source)."""
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain, path))
        raise ConfigError(f"{path}: 'extends' forms a cycle: {cycle}")
    if not path.is_file():
        where = f" (extended from {chain[-1]})" if chain else ""
        raise ConfigError(f"config file not found: {path}{where}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a YAML text file ({e.reason} at byte {e.start})") \
            from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    base_ref = data.pop("extends", None)
    merged: dict = {}
    sources: dict[str, str] = {}
    if base_ref is not None:
        if not isinstance(base_ref, str):
            raise ConfigError(f"{path}: 'extends' must be a file path, got {base_ref!r}")
        merged, sources = _read_yaml(path.parent / base_ref, (*chain, path))
    _merge(merged, data, "", str(path), sources)
    return merged, sources


def _merge(dst: dict, src: dict, prefix: str, source: str, sources: dict[str, str]) -> None:
    """Merge ``src`` into ``dst`` in place, recording where every key came from."""
    for key, value in src.items():
        if not isinstance(key, str):
            raise ConfigError(f"{source}: key {key!r} under '{prefix or '<top>'}' is not a string")
        dotted = f"{prefix}{key}"
        old = dst.get(key)
        # A mapping that switches its 'type' (say bilstm -> conformer) replaces the base
        # mapping: the base's other keys belong to the other variant.
        switches = (
            isinstance(old, dict) and isinstance(value, dict)
            and "type" in value and value["type"] != old.get("type")
        )
        if isinstance(old, dict) and isinstance(value, dict) and not switches:
            _merge(old, value, dotted + ".", source, sources)
        else:
            dst[key] = _copy(value)
            for k in [k for k in sources if k.startswith(dotted + ".")]:
                del sources[k]
            _record(dst[key], dotted, source, sources)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _record(value: Any, dotted: str, source: str, sources: dict[str, str]) -> None:
    sources[dotted] = source
    if isinstance(value, dict):
        for k, v in value.items():
            _record(v, f"{dotted}.{k}", source, sources)


def apply_overrides(data: dict, overrides: list[str], sources: dict[str, str]) -> None:
    """Apply ``a.b.c=value`` overrides in order; values are parsed as YAML scalars."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"bad override '{item}': expected dotted.key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"override '{item}': value is not valid YAML: {e}") from None
        parts = key.split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                prefix = ".".join(parts[: i + 1])
                raise ConfigError(f"override '{item}': '{prefix}' is a value, not a section")
            node = child
        _merge(node, {parts[-1]: value}, ".".join(parts[:-1]) + "." if len(parts) > 1 else "",
               f"{_CLI} override '{item}'", sources)


def _source_of(dotted: str, sources: dict[str, str]) -> str:
    probe = dotted
    while probe:
        if probe in sources:
            return sources[probe]
        probe = probe.rpartition(".")[0]
    return "defaults"


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _build(tp: Any, value: Any, dotted: str, sources: dict[str, str]) -> Any:
    """Convert a YAML value to ``tp``, raising ConfigError naming the key and its source."""

    def fail(why: str) -> ConfigError:
        return ConfigError(f"{_source_of(dotted, sources)}: {dotted}: {why}")

    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build_dataclass(tp, value, dotted, sources)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        variants = [a for a in args if dataclasses.is_dataclass(a)]
        if variants:
            return _build_variant(variants, value, dotted, sources)
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _build(inner[0], value, dotted, sources)
        raise fail(f"unsupported type {tp}")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise fail(f"expected one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise fail(f"expected a list, got {type(value).__name__} {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v, f"{dotted}[{i}]", sources) for i, v in enumerate(value))
        if len(args) != len(value):
            raise fail(f"expected a list of {len(args)} items, got {len(value)}")
        return tuple(_build(a, v, f"{dotted}[{i}]", sources)
                     for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if tp is bool:
        if not isinstance(value, bool):
            raise fail(f"expected true or false, got {type(value).__name__} {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(f"expected int, got {type(value).__name__} {value!r}")
        return value
    if tp is float:
        # PyYAML reads '1e-3' (no dot) as a string; accept any string float() accepts.
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(f"expected float, got {type(value).__name__} {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise fail(f"expected str, got {type(value).__name__} {value!r}")
        return value
    raise fail(f"unsupported type {_type_name(tp)}")


def _build_variant(variants: list[type], value: Any, dotted: str, sources: dict[str, str]) -> Any:
    """Pick the dataclass whose ``type`` Literal matches ``value['type']``."""
    names = {typing.get_args(typing.get_type_hints(v)["type"])[0]: v for v in variants}
    if not isinstance(value, dict):
        raise ConfigError(f"{_source_of(dotted, sources)}: {dotted}: expected a mapping "
                          f"with 'type' one of {sorted(names)}, got {value!r}")
    kind = value.get("type")
    if kind not in names:
        raise ConfigError(f"{_source_of(dotted + '.type', sources)}: {dotted}.type: "
                          f"expected one of {sorted(names)}, got {kind!r}")
    return _build_dataclass(names[kind], value, dotted, sources)


def _build_dataclass(cls: type[T], value: Any, dotted: str, sources: dict[str, str]) -> T:
    where = f"{dotted}: " if dotted else ""
    if not isinstance(value, dict):
        raise ConfigError(f"{_source_of(dotted, sources)}: {where}expected a mapping, "
                          f"got {type(value).__name__} {value!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in value:
        if key not in fields:
            full = f"{dotted}.{key}" if dotted else key
            raise ConfigError(f"{_source_of(full, sources)}: unknown key '{full}' "
                              f"(known keys here: {', '.join(fields)})")
    kwargs = {}
    for name, field in fields.items():
        full = f"{dotted}.{name}" if dotted else name
        if name in value:
            item = value[name]
            if isinstance(item, dict) and "type" not in item and \
                    field.default_factory is not dataclasses.MISSING:
                # a partial variant section keeps the default variant's type
                default_type = getattr(field.default_factory(), "type", None)
                if default_type is not None:
                    item = {"type": default_type, **item}
            kwargs[name] = _build(hints[name], item, full, sources)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{_source_of(dotted, sources)}: missing required key '{full}'")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{_source_of(dotted, sources)}: {where or 'config: '}{e}") from None


def load_config(cls: type[T], path: str | Path | None, overrides: list[str] = ()) -> T:
    """Load ``path`` (with its ``extends`` chain) plus dotted overrides into ``cls``."""
    data, sources = _read_yaml(Path(path), ()) if path is not None else ({}, {})
    apply_overrides(data, list(overrides), sources)
    return _build_dataclass(cls, data, "", sources)


def config_from_dict(cls: type[T], data: dict, source: str = "<dict>") -> T:
    """Build ``cls`` from a plain dict (as written by :func:`config_to_dict`)."""
    sources: dict[str, str] = {}
    _record(data, "", source, sources)
    return _build_dataclass(cls, _copy(data), "", {k.lstrip("."): v for k, v in sources.items()})


def config_to_dict(cfg: Any) -> dict:
    """A plain, YAML-safe dict (tuples become lists) that round-trips through load_config."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return plain(cfg)


def dump_config(cfg: Any) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False, default_flow_style=False)


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the fully resolved config (atomically) so a run can be reproduced from it."""
    from asr.atomic_io import atomic_write_text

    atomic_write_text(Path(path), dump_config(cfg))


def config_hash(cfg: Any) -> str:
    """A short stable hash of a config (or a section of one), for checkpoint compatibility."""
    return hashlib.sha256(dump_config(cfg).encode()).hexdigest()[:16]
