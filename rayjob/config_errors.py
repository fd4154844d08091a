"""Pydantic validation errors worded as one line a user can act on.

``unknown config key optim.lrr (did you mean optim.lr?); keys of optim: lr, weight_decay, ...``,
``trainer.max_epochs='abc' has the wrong type: expected an integer``, ``ema.decay=1.5 must be in (0, 1)``:
the key, the value, and what the key accepts, read from the schema itself (types, ``Literal`` choices and
``Field`` bounds), so no message repeats a fact the schema already holds.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Literal, Union

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true/false",
    "str": "a string",
    "list": "a list",
    "dict": "a mapping",
}


def describe_validation_error(err: ValidationError, model: type[BaseModel]) -> str:
    """The first problem of ``err`` as one line (pydantic lists every union member's failure)."""
    first = err.errors()[0]
    field_loc, field = _walk(model, first["loc"])
    key = _dotted(field_loc)
    kind, value = first["type"], first.get("input")
    if kind == "extra_forbidden":
        section = field.annotation if field is not None and _is_section(field) else model
        return _unknown_key(section, key, str(first["loc"][len(field_loc)]))
    if kind == "value_error":  # a validator's own words (``ValueError`` raised in the schema)
        return f"{key}={value!r}: {first['ctx']['error']}"
    if field is None or kind in ("model_type", "model_attributes_type") or (_is_section(field) and kind == "dict_type"):
        return f"{key or 'the config'} must be a mapping, got {value!r}"
    element, where = _element(field.annotation, first["loc"][len(field_loc) :], key)
    if kind.startswith(("greater_than", "less_than")):
        bounds = _constraints(field) if any(k in _constraints(field) for k in first.get("ctx", {})) else first["ctx"]
        return f"{where}={value!r} must be {_bounds(bounds)}"
    if kind in ("too_short", "too_long"):
        return f"{where}={value!r} {_length(_constraints(field), value)}"
    if kind == "string_pattern_mismatch":
        return f"{where}={value!r} must be a non-empty folder name (no '/')"
    if _literal_choices(element) and not _accepts_other(element):
        return f"{where}={value!r} is not allowed; choose one of: {', '.join(map(str, _literal_choices(element)))}"
    return f"{where}={value!r} has the wrong type: expected {_word(element)}"


def _element(kind: Any, rest: tuple[Any, ...], where: str) -> tuple[Any, str]:
    """The type of the failing element inside a list/dict field, and its display path (``data.mean[1]``)."""
    for part in rest:
        kind = _unwrap(kind)
        origin = typing.get_origin(kind)
        if origin is list and isinstance(part, int):
            kind, where = typing.get_args(kind)[0], f"{where}[{part}]"
        elif origin is dict:
            kind, where = typing.get_args(kind)[1], f"{where}.{part}"
        else:
            break  # a union member's tag ('int', "literal['auto']"): the field itself failed
    return _unwrap(kind), where


def _unwrap(kind: Any) -> Any:
    return typing.get_args(kind)[0] if typing.get_origin(kind) is typing.Annotated else kind


def _walk(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[list[Any], FieldInfo | None]:
    """The part of ``loc`` that names schema fields, and the deepest of those fields."""
    owner, field, path = model, None, []
    for part in loc:
        if field is not None and not _is_section(field):
            break
        if field is not None:
            owner = field.annotation
        info = owner.model_fields.get(part) if isinstance(part, str) else None
        if info is None:
            break
        field = info
        path.append(part)
    return path, field


def _unknown_key(section: type[BaseModel], where: str, unknown: str) -> str:
    prefix = f"{where}." if where else ""
    names = list(section.model_fields)
    hint = difflib.get_close_matches(unknown, names, n=1)
    did_you_mean = f" (did you mean {prefix}{hint[0]}?)" if hint else ""
    return f"unknown config key {prefix}{unknown}{did_you_mean}; keys of {where or 'the config'}: {', '.join(names)}"


def _is_section(field: FieldInfo) -> bool:
    return isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)


def _dotted(loc: list[Any] | tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _literal_choices(kind: Any) -> list[Any]:
    if typing.get_origin(kind) is Literal:
        return list(typing.get_args(kind))
    if typing.get_origin(kind) in (Union, types.UnionType):
        return [c for arg in typing.get_args(kind) for c in _literal_choices(arg)]
    return []


def _accepts_other(kind: Any) -> bool:
    """A union of a Literal with another type (``int | Literal['auto']``) is a type question, not a choice."""
    if typing.get_origin(kind) not in (Union, types.UnionType):
        return False
    return any(typing.get_origin(a) is not Literal and a is not type(None) for a in typing.get_args(kind))


def _word(kind: Any) -> str:
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        return " or ".join(_word(a) for a in typing.get_args(kind))
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(kind))
    if origin is typing.Annotated:
        return _word(typing.get_args(kind)[0])
    if origin is list:
        return "a list"
    if origin is dict:
        return "a mapping"
    if kind is type(None):
        return "null"
    return TYPE_WORDS.get(getattr(origin or kind, "__name__", ""), str(kind))


def _constraints(field: FieldInfo) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in field.metadata:
        for name in ("gt", "ge", "lt", "le", "min_length", "max_length"):
            if getattr(item, name, None) is not None:
                found[name] = getattr(item, name)
    return found


def _bounds(c: dict[str, Any]) -> str:
    low = ("(", c["gt"]) if "gt" in c else ("[", c["ge"]) if "ge" in c else None
    high = (c["lt"], ")") if "lt" in c else (c["le"], "]") if "le" in c else None
    if low and high:
        return f"in {low[0]}{low[1]:g}, {high[0]:g}{high[1]}"
    if low:
        if low == ("(", 0):
            return "positive"
        return f"at least {low[1]:g}" if low[0] == "[" else f"greater than {low[1]:g}"
    if high:
        return f"at most {high[0]:g}" if high[1] == "]" else f"less than {high[0]:g}"
    return "in range"


def _length(c: dict[str, Any], value: Any) -> str:
    if c.get("min_length") == c.get("max_length") and "min_length" in c:
        return f"needs exactly {c['min_length']} values, got {len(value)}"
    return f"needs between {c.get('min_length', 0)} and {c.get('max_length', 'any number of')} items"
