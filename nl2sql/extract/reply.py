"""A model's answer → validated values, or the reason it is not valid.

Servers with structured output send bare JSON; others wrap it in prose or a code fence,
or prepend a reasoning block. The first JSON object found is validated against the spec
(:func:`nl2sql.extract.spec.validator`); nothing is repaired or guessed — an invalid
answer is re-asked once, then recorded as invalid with the reason.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from nl2sql.extract.spec import describe_errors

_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_FENCE = re.compile(r"```[ \t]*(?:json)?[ \t]*\n?(.*?)```", re.S | re.I)
MAX_REASON = 300


def check(content: str, model: type[BaseModel]) -> tuple[dict[str, Any] | None, str | None]:
    """``(values, None)`` for a valid answer, ``(None, reason)`` otherwise.

    >>> from nl2sql.extract.spec import parse, validator
    >>> spec = parse({"name": "t", "description": "d", "fields": {"n": {"type": "integer",
    ...     "description": "a number"}}})
    >>> check('Sure: ```json\\n{"n": 3}\\n```', validator(spec))
    ({'n': 3}, None)
    >>> check('{"n": 3, "rating": 5}', validator(spec))
    (None, 'rating: Extra inputs are not permitted')
    """
    data, reason = parse_object(content)
    if data is None:
        return None, reason
    return check_values(data, model)


def check_values(data: dict[str, Any], model: type[BaseModel],
                 ) -> tuple[dict[str, Any] | None, str | None]:
    """Validate already-parsed values (an answer, or one read back from the cache)."""
    try:
        return model.model_validate(data).model_dump(), None
    except ValidationError as exc:
        return None, describe_errors(exc)[:MAX_REASON]


def parse_object(content: str) -> tuple[dict[str, Any] | None, str | None]:
    """The JSON object in ``content``, or why there is none."""
    text = _THINK.sub("", content).strip()
    candidates = [text, *(m.strip() for m in _FENCE.findall(text))]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start:end + 1])
    last_error = "the answer is empty" if not text else "the answer holds no JSON object"
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError as exc:
            if candidate is text and text.startswith("{"):
                last_error = f"the answer is not valid JSON ({exc.msg} at character {exc.pos})"
            continue
        if isinstance(data, dict):
            return data, None
        last_error = f"the answer is JSON but not an object ({type(data).__name__})"
    return None, last_error
