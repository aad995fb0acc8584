"""YAML config files -> nested dataclasses, with `section.key=value` overrides.

A member declares its config as nested dataclasses with defaults. `load_config` reads a YAML
file (a path, or the name of a file shipped in a member's `configs` package), applies the
overrides and builds the dataclasses, checking every key and coercing values to the declared
types. An unknown key or a value of the wrong type raises `ConfigError` with the key's full
dotted name and, for unknown keys, the valid names.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sigshared.errors import ConfigError


def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"config key {key!r}: {value!r} fits none of {tp}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(
                f"config key {key!r}: {value!r} is not one of {', '.join(map(repr, args))}"
            )
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r} is a section; expected a mapping, got {value!r}")
        return _build(tp, value, key)
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config key {key!r}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"config key {key!r}: expected {len(args)} items, got {value!r}")
            return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin is tuple or tp is tuple) else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key {key!r}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"config key {key!r}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # YAML 1.1 reads "1e-4" (no dot) as a string.
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"config key {key!r}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"config key {key!r}: expected a string, got {value!r}")
    return value


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = _type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if k not in names:
            where = f"in section {prefix!r}" if prefix else "at the top level"
            raise ConfigError(f"unknown config key {key!r}; valid keys {where}: {', '.join(names)}")
        kwargs[k] = _coerce(v, hints[k], key)
    return cls(**kwargs)


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {dotted!r}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """'section.key=value' -> ('section.key', YAML-parsed value)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({err})") from None
    return key, value


def available_configs(package: str) -> list[str]:
    """Names of the YAML configs shipped in `package` (a module path like 'pkg.configs')."""
    root = resources.files(package)
    return sorted(p.name.rsplit(".", 1)[0] for p in root.iterdir() if p.name.endswith(".yaml"))


def read_config_source(source: str | Path, package: str | None = None) -> tuple[dict, str]:
    """The raw mapping of a YAML file path or a shipped config name, and where it came from."""
    text_source = str(source)
    path = Path(text_source)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        text, origin = _read_text_file(path), str(path)
    else:
        if package is None:
            raise ConfigError(f"config file not found: {path}")
        candidate = resources.files(package) / f"{text_source}.yaml"
        if not candidate.is_file():
            names = ", ".join(available_configs(package))
            raise ConfigError(
                f"unknown config {text_source!r}; shipped configs: {names} (or give a YAML path)"
            )
        text, origin = candidate.read_text(), f"{package}:{text_source}.yaml"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"config {origin} is not valid YAML: {err}".splitlines()[0]) from None
    if data is None:
        # An empty file would silently run the full default model; that is never what was meant.
        raise ConfigError(f"config {origin} is empty; give a YAML mapping of sections")
    if not isinstance(data, dict):
        raise ConfigError(
            f"config {origin} must be a mapping of sections, got {type(data).__name__}"
        )
    return data, origin


def _read_text_file(path: Path) -> str:
    """The text of a config file; binary files are refused by name."""
    raw = path.read_bytes()
    if b"\0" in raw:
        raise ConfigError(f"config file {path} is binary, not YAML text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (binary?); give a YAML file"
        ) from None


def load_config(
    cls: type,
    source: str | Path | dict | None = None,
    overrides: Iterable[str] = (),
    package: str | None = None,
) -> Any:
    """Build dataclass `cls` from a YAML path, a shipped config name, a dict or the defaults.

    Overrides (`section.key=value`, value in YAML syntax) apply after the file. Missing keys
    keep the dataclass defaults.
    """
    if source is None:
        data: dict[str, Any] = {}
    elif isinstance(source, dict):
        data = dict(source)
    else:
        data, _ = read_config_source(source, package)
    for text in overrides:
        key, value = parse_override(text)
        _set_path(data, key, value)
    return _build(cls, data)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A nested dict of plain YAML types (tuples become lists)."""
    return _plain(dataclasses.asdict(cfg))


def save_config(cfg: Any, path: str | Path) -> Path:
    """Write the resolved config as YAML."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return path
