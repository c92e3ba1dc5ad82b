"""Database values as JSON: the one encoding every ``--format json`` output and file uses.

Decimals become numbers, dates ISO text, bytes base64, NaN and infinities null.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import uuid
from typing import Any


def json_value(value: Any) -> Any:
    """A Python value from DuckDB as a JSON-ready value."""
    if isinstance(value, decimal.Decimal):
        exponent = value.as_tuple().exponent
        whole = isinstance(exponent, int) and exponent >= 0
        return int(value) if whole else float(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None  # NaN and infinities are not JSON
    return value


def to_json(data: Any) -> str:
    return json.dumps(json_value(data), ensure_ascii=False, indent=None)
