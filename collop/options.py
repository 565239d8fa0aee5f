"""Typed, validated option sets that round-trip through JSON.

Job specs, operator-family options, penalties and objective options are all
*frozen pydantic dataclasses*: they are plain dataclasses (``dataclasses.asdict``
and ``dataclasses.replace`` work), they serialise to JSON and back without
loss, and a wrong value is reported in one line that names the field.

Scalars are strict (``1.0`` is not an ``int``, ``"1"`` is not a number,
``1`` is not a ``bool``; an ``int`` is accepted where a ``float`` is wanted),
unknown fields are errors, and lists are accepted where tuples are wanted
(JSON has no tuples).
"""
from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

from pydantic import ConfigDict, Strict, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass as _pydantic_dataclass

from .schema import CollopError

__all__ = ["options", "Names", "SpecError", "one_line", "parse", "to_dict", "to_json", "from_json", "fields"]

#: A tuple of strings that also accepts a JSON list.
Names = Annotated[tuple[str, ...], Strict(False)]

CONFIG = ConfigDict(extra="forbid", strict=True)


class SpecError(CollopError, ValueError):
    """An option set or job spec with a bad field (one line naming the field).

    Attributes
    ----------
    field : str or None
        Dotted path of the field (``"options.nt"``), so a front end can name
        it its own way (the command line says ``--nt``).
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def one_line(msg) -> str:
    """``msg`` as one line (white space folded), as every error of collop is reported."""
    return " ".join(str(msg).split()) or "unknown error"


def options(cls=None, **kw):
    """Decorator: a frozen, strictly validated pydantic dataclass (see the module docstring)."""
    def wrap(c):
        return _pydantic_dataclass(c, frozen=True, config=CONFIG, **kw)
    return wrap if cls is None else wrap(cls)


def _where(prefix: str, loc) -> str:
    parts = [prefix] if prefix else []
    parts += [str(p) for p in loc if p not in ("__root__",)]
    return ".".join(parts) or "value"


def _one_line(exc: ValidationError, prefix: str) -> tuple[str, str]:
    err = exc.errors(include_url=False)[0]
    loc = _where(prefix, err.get("loc", ()))
    msg = err.get("msg", "invalid value")
    if err.get("type") in ("unexpected_keyword_argument", "extra_forbidden"):
        msg = "unknown field"
    inp = err.get("input")
    shown = "" if err.get("type") in ("missing", "missing_argument") or isinstance(inp, dict) \
        else f" (got {inp!r})"
    more = len(exc.errors()) - 1
    return (f"{loc}: {msg}{shown}" + (f" (and {more} more problem{'s' * (more > 1)})" if more else ""),
            loc)


def parse(cls, value: Any, *, where: str = ""):
    """``cls`` from a dict, a JSON string or an instance; :class:`SpecError` names the bad field.

    Parameters
    ----------
    cls : type
        An :func:`options` dataclass.
    value : dict, str, bytes or cls
        The fields (a JSON object for strings).
    where : str
        Prefix of the field path in error messages (e.g. ``"options"``).
    """
    if isinstance(value, cls):
        return value
    try:
        if isinstance(value, (str, bytes)):
            return TypeAdapter(cls).validate_json(value)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise SpecError(f"{where or 'value'}: expected an object of fields, got {type(value).__name__}")
        # through JSON, so lists become tuples exactly as when reading a file
        return TypeAdapter(cls).validate_json(json.dumps(value))
    except ValidationError as exc:
        msg, loc = _one_line(exc, where)
        raise SpecError(msg, field=loc) from None
    except TypeError as exc:  # json.dumps of something that is not JSON
        raise SpecError(f"{where or 'value'}: not JSON-serialisable ({exc})") from None


def to_dict(obj) -> dict:
    """The fields of an options dataclass as JSON-ready Python values."""
    return json.loads(TypeAdapter(type(obj)).dump_json(obj))


def to_json(obj, indent: int | None = 2) -> str:
    return json.dumps(to_dict(obj), indent=indent)


def from_json(cls, text):
    return parse(cls, text)


def fields(cls) -> list[dataclasses.Field]:
    """The dataclass fields of an options class."""
    return list(dataclasses.fields(cls))
