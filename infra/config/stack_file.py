"""Reading `Pulumi.<stack>.yaml` as strictly as either of its readers reads it.

The checks read the file with PyYAML, which follows YAML 1.1 (`NO`, `Off`, `017`, `1:20` are no strings there);
Pulumi's engine reads it with Go's yaml.v3, which follows YAML 1.2 and Go's number syntax (`1e3`, `.5e1`, `0o17`,
`0X1F`, `08`, `1_0e3` are numbers there). A plain scalar that either reader takes for a number is a number here,
so the config model names it where a string is needed, before any call (adv22 and adv23 B2: the checks passed
them as strings, the program failed after Railway was read). A key given twice is refused, as the engine refuses
it (PyYAML keeps the last one). `=` is a plain string, as the engine reads it (PyYAML 1.1 calls it a "value").
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from infra.config.models import ConfigError

STR = "tag:yaml.org,2002:str"
ENGINE_NUMBER = "tag:acs,2026:engine-number"  # a plain scalar only yaml.v3 reads as a number
# yaml.v3's float syntax (resolve.go, yamlStyleFloat), applied after it drops every "_"
V3_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
GO_OCTAL = re.compile(r"^0[0-7]+$")  # Go's ParseInt(s, 0, 64) reads a leading 0 as octal; Python 3 refuses it


def engine_number(text: str) -> int | float | None:
    """The number yaml.v3 reads a plain scalar as, or None when it reads a string (or a non-number)."""
    plain = text.replace("_", "")
    sign, digits = (-1, plain[1:]) if plain[:1] == "-" else (1, plain[1:] if plain[:1] == "+" else plain)
    if digits[:1].isdigit() and digits.isascii():
        try:
            return sign * (int(digits, 8) if GO_OCTAL.match(digits) else int(digits, 0))  # 0x, 0o, 0b, any case
        except ValueError:
            pass
    return float(plain) if V3_FLOAT.match(plain) else None


class StackFileLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with yaml.v3's numbers and without duplicate keys (see the module's text)."""

    yaml_implicit_resolvers = {first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:value"]
                               for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        tag = super().resolve(kind, value, implicit)
        if kind is yaml.ScalarNode and implicit[0] and tag == STR and engine_number(value) is not None:
            return ENGINE_NUMBER
        return tag

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`, merged by the base class
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"the key {key!r} is given twice",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


StackFileLoader.add_constructor(ENGINE_NUMBER, lambda loader, node: engine_number(loader.construct_scalar(node)))


def read_yaml(text: str) -> Any:
    return yaml.load(text, Loader=StackFileLoader)  # noqa: S506 - a SafeLoader (see StackFileLoader)


def read_stack_file(path: Path) -> dict[str, Any]:
    """The file's `config:` mapping ({} for an empty file); a file no reader can use is named, never a traceback."""
    return read_stack_document(path)[1]


def read_stack_document(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The file's top level (`encryptionsalt`, `secretsprovider`, ...) and its `config:` mapping."""
    try:
        doc = read_yaml(path.read_bytes().decode("utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name}: not UTF-8 text (byte {exc.start}); Pulumi reads stack files as UTF-8") \
            from None
    except yaml.YAMLError as exc:  # a user's typo: one line naming file and line, never a parser traceback
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path.name}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path.name}: not a stack file: its top level is a {type(doc).__name__}, not a mapping "
                          "with a `config:` key")
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path.name}: config: must be a mapping of keys (acs:environment, ...), not a "
                          f"{type(config).__name__}")
    return doc, config
