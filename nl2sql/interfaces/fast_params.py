"""Command-line values without Pydantic, for the common case: a start-up saving.

Typer (0.2x) checks every parameter of the command being run through a Pydantic
``TypeAdapter``. Importing Pydantic and building the adapters was the largest single
cost of a one-shot ``nl2sql sql`` after the query itself (about 0.1 s of CPU of ~0.6 s;
measure with ``python -X importtime``). Our parameters are text, whole numbers and
flags, so :func:`install` puts a light check in front: a ``str`` stays a ``str``, a
``bool`` a ``bool``, a
plain ASCII whole number within the option's ``min``/``max`` becomes an ``int``, and
anything else (a bad number, a value out of range, any other type) goes to Typer's own
Pydantic check, so every message and exit code is Typer's, unchanged.

Typer's hook is private; when it is not where this expects it, nothing is installed and
Typer works as it always does (only slower to start).
"""

from __future__ import annotations

import types
import typing
from typing import Any

_SCALARS = (str, int, bool)


def install() -> bool:
    """Put the light check in front of Typer's; True when installed."""
    try:
        from typer import _coercion, core
    except ImportError:  # pragma: no cover - another Typer layout
        return False
    real: Any = getattr(core, "build_runtime_param", None)
    base: Any = getattr(_coercion, "RuntimeParam", None)
    if real is None or base is None or getattr(real, "_nl2sql_light", False):
        return False

    class LightParam(base):
        """Coerces the easy values itself and hands the rest to Typer's own check."""

        def __init__(self, descriptor: Any, scalar: type) -> None:
            super().__init__(parameter_info=descriptor.parameter_info,
                             annotation=descriptor.annotation)
            object.__setattr__(self, "_descriptor", descriptor)
            object.__setattr__(self, "_scalar", scalar)
            object.__setattr__(self, "_full", None)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            light = _light_value(value, self._scalar, self.parameter_info)
            if light is not None:
                return light
            if self._full is None:  # Typer's Pydantic check, for exactly its messages
                object.__setattr__(self, "_full", real(self._descriptor))
            return self._full._coerce_value(value, param=param, ctx=ctx)

    def build(descriptor: Any) -> Any:
        scalar = _scalar(descriptor)
        return LightParam(descriptor, scalar) if scalar is not None else real(descriptor)

    build._nl2sql_light = True  # type: ignore[attr-defined]
    core.build_runtime_param = build
    return True


def _scalar(descriptor: Any) -> type | None:
    """``str``, ``int`` or ``bool`` for those and their optional forms, else None."""
    if getattr(descriptor, "file_annotation", None) is not None:
        return None
    annotation = descriptor.annotation
    if isinstance(annotation, type):
        return annotation if annotation in _SCALARS else None
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(rest) == 1 and rest[0] in _SCALARS:
            return typing.cast(type, rest[0])
    return None


def _light_value(value: Any, scalar: type, info: Any) -> Any:
    """The value when it is plainly right, else None (then Typer decides).

    >>> class Info: min, max, clamp = 1, None, False
    >>> _light_value("12", int, Info()), _light_value("0", int, Info()), _light_value("x", str, Info())
    (12, None, 'x')
    """
    if scalar is str:
        return value if isinstance(value, str) else None
    if scalar is bool:  # flags arrive as bools; text ("yes") is Typer's to judge
        return value if isinstance(value, bool) else None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        return None
    if getattr(info, "clamp", False):
        return None
    low, high = getattr(info, "min", None), getattr(info, "max", None)
    if (low is not None and number < low) or (high is not None and number > high):
        return None
    return number
