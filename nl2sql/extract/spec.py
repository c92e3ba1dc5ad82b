"""The extraction spec: which fields to pull out of a text, their types, labels and meaning.

A spec is a small YAML file; the ones for the sample database ship in ``schemas/extract/``::

    name: review_insights                 # also the default --into table
    description: What one row says about one review.
    synonyms: [review analysis, 评论分析]  # optional: words people use for the table
    fields:
      sentiment:
        type: enum                        # string, integer, number, boolean, date, enum, list
        labels: [positive, neutral, negative]   # enum (required) and list (optional);
                                          # or {label: [aliases people say]} for questions
        description: Overall tone of the review.
        nullable: false                   # may the value be null when the text says nothing?
        synonyms: [tone, 情感]
      names:
        type: list
        description: People named in the text.
        pii: person_name                  # optional: the values are personal data (never
        mask: partial                     # sent to a model); optional access-policy mask
      phones:
        type: integer
        detector: pii.count               # computed without the model (see detectors.py)
        description: Phone numbers mentioned.

Everything is validated here (pydantic), so a spec that loads can be turned into a JSON
schema for the model, a validator for its answers and typed DuckDB columns without
further checks. The spec hash covers only what changes an extraction (names, types,
descriptions, labels, nullability, detectors) — editing synonyms, label aliases, ``pii``
or ``mask`` keeps the cache.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from nl2sql.errors import ConfigError

FieldType = Literal["string", "integer", "number", "boolean", "date", "enum", "list"]
#: detector -> the field type it produces (see :mod:`nl2sql.extract.detectors`).
DETECTORS: dict[str, str] = {"pii.kinds": "list", "pii.count": "integer", "pii.masked": "list",
                             "pii.any": "boolean"}
#: Columns every extracted table carries after the key and the fields.
PROVENANCE = ("source_table", "source_column", "source_key", "model", "spec_hash",
              "prompt_hash", "text_hash", "extracted_at", "status", "reason")
NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
MAX_FIELDS = 40
MAX_STRING = 2000  # a longer "field" is a copy of the text, not an extraction
MAX_ITEMS = 50
SQL_TYPES = {"string": "VARCHAR", "integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN",
             "date": "DATE", "enum": "VARCHAR", "list": "VARCHAR[]"}


class FieldSpec(BaseModel):
    """One field: its type, what it means, and (for enum and list) the allowed labels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: FieldType
    description: str = Field(min_length=1, max_length=600)
    labels: dict[str, list[str]] = Field(default_factory=dict)
    nullable: bool = False
    detector: Literal["pii.kinds", "pii.count", "pii.masked", "pii.any"] | None = None
    synonyms: list[str] = Field(default_factory=list)
    # Governance of the extracted column, as in schemas/*.yaml: a personal-data kind (its
    # values never reach a prompt) and the mask every role gets unless its policy says
    # otherwise (roles: unmask / columns: in the database's semantic layer).
    pii: str | None = Field(default=None, pattern=r"^[a-z_]{1,40}$")
    mask: Literal["none", "partial", "hash", "redact"] | None = None

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_as_mapping(cls, value: Any) -> Any:
        """``[a, b]`` and ``{a: [alias], b: null}`` both mean labels a and b."""
        if isinstance(value, list):
            return {str(v): [] for v in value}
        if isinstance(value, dict):
            return {str(k): [str(a) for a in (v or [])] if isinstance(v, list) else [str(v)]
                    for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        if self.type == "enum" and len(self.labels) < 2:
            raise ValueError("an enum needs at least two labels")
        if self.labels and self.type not in ("enum", "list"):
            raise ValueError(f"labels only apply to enum and list fields, not {self.type}")
        if any(not label.strip() or len(label) > 100 for label in self.labels):
            raise ValueError("labels must be non-empty and at most 100 characters")
        if self.detector and DETECTORS[self.detector] != self.type:
            raise ValueError(f"detector {self.detector} produces a {DETECTORS[self.detector]} "
                             f"field, not {self.type}")
        return self

    @property
    def label_names(self) -> list[str]:
        return list(self.labels)

    @property
    def asks_model(self) -> bool:
        return self.detector is None


class Spec(BaseModel):
    """A validated spec (see the module docstring for the file format)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = Field(min_length=1, max_length=600)
    synonyms: list[str] = Field(default_factory=list)
    fields: dict[str, FieldSpec] = Field(min_length=1, max_length=MAX_FIELDS)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a table name: lower-case letters, digits and _, "
                             "starting with a letter")
        return value

    @field_validator("fields")
    @classmethod
    def _field_names(cls, value: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
        for name in value:
            if not NAME.fullmatch(name):
                raise ValueError(f"field {name!r} is not a column name: lower-case letters, "
                                 "digits and _, starting with a letter")
            if name in PROVENANCE:
                raise ValueError(f"field {name!r} clashes with a provenance column "
                                 f"({', '.join(PROVENANCE)})")
        return value

    @property
    def asked(self) -> dict[str, FieldSpec]:
        """The fields the model is asked for."""
        return {n: f for n, f in self.fields.items() if f.asks_model}

    @property
    def detected(self) -> dict[str, FieldSpec]:
        """The fields computed without a model."""
        return {n: f for n, f in self.fields.items() if not f.asks_model}


def load(ref: str, specs_dir: Path) -> tuple[Spec, Path]:
    """The spec at path ``ref``, or the shipped spec named ``ref`` in ``specs_dir``."""
    path = Path(ref).expanduser()
    if not path.is_file():
        shipped = specs_dir / f"{ref}.yaml"
        if not shipped.is_file():
            names = sorted(p.stem for p in specs_dir.glob("*.yaml")) if specs_dir.is_dir() else []
            known = f"; shipped specs: {', '.join(names)}" if names else ""
            raise ConfigError(f"spec not found: {ref}{known}")
        path = shipped
    try:
        data = yaml.load(path.read_text(encoding="utf-8"),  # libyaml when installed
                         Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a readable YAML spec: {str(exc).splitlines()[0]}") from exc
    return parse(data, str(path)), path


def parse(data: Any, where: str = "spec") -> Spec:
    """Validate a loaded spec; the first problem becomes a one-line :class:`ConfigError`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a spec is a mapping with name, description and fields")
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {describe_errors(exc, limit=1)}") from exc


def describe_errors(exc: ValidationError, limit: int = 3) -> str:
    """``field: problem; field: problem`` — pydantic's errors, short and on one line."""
    parts = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(p) for p in error["loc"]) or "value"
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def spec_hash(spec: Spec) -> str:
    """A hash of what changes an extraction (not synonyms or label aliases)."""
    essence = {
        "description": spec.description,
        "fields": {name: {"type": f.type, "description": f.description, "labels": f.label_names,
                          "nullable": f.nullable, "detector": f.detector}
                   for name, f in spec.fields.items()},
    }
    canonical = json.dumps(essence, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def sql_type(field: FieldSpec) -> str:
    """The DuckDB column type of a field."""
    return SQL_TYPES[field.type]


# --------------------------------------------------------------------------------------
# What the model sees: the JSON schema of the asked fields
# --------------------------------------------------------------------------------------

_JSON_TYPES = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean",
               "date": "string", "enum": "string"}


def json_schema(spec: Spec) -> dict[str, Any]:
    """The asked fields as a strict JSON schema (OpenAI structured-output rules: every
    property required, no extra properties, null allowed only where the spec says)."""
    properties = {name: _field_schema(f) for name, f in spec.asked.items()}
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}


def _field_schema(field: FieldSpec) -> dict[str, Any]:
    description = field.description + (" (YYYY-MM-DD)" if field.type == "date" else "")
    schema: dict[str, Any]
    if field.type == "list":
        items: dict[str, Any] = {"type": "string"}
        if field.labels:
            items["enum"] = field.label_names
        schema = {"type": "array", "items": items}
    else:
        schema = {"type": _JSON_TYPES[field.type]}
        if field.type == "enum":
            schema["enum"] = field.label_names
    if field.nullable:
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    schema["description"] = description
    return schema


# --------------------------------------------------------------------------------------
# What the model answers: a pydantic validator built from the spec
# --------------------------------------------------------------------------------------


def validator(spec: Spec) -> type[BaseModel]:
    """A pydantic model that accepts exactly the asked fields with valid values.

    Extra keys are refused (an answer that adds fields has left the spec); enum labels
    match case-insensitively and come back in the spec's spelling.
    """
    definitions: dict[str, Any] = {}
    for name, field in spec.asked.items():
        annotation = _annotation(field)
        definitions[name] = (annotation | None if field.nullable else annotation, ...)
    return create_model(
        f"{spec.name}_values", __config__=ConfigDict(extra="forbid", allow_inf_nan=False),
        **definitions)


def _annotation(field: FieldSpec) -> Any:
    if field.type == "enum":
        return _label_type(field.label_names)
    if field.type == "list":
        item: Any = _label_type(field.label_names) if field.labels else Annotated[
            str, Field(max_length=MAX_STRING)]
        return Annotated[list[item], Field(max_length=MAX_ITEMS)]
    if field.type in ("integer", "number"):
        number: Any = int if field.type == "integer" else float
        return Annotated[number, BeforeValidator(_no_bool)]
    return {"string": Annotated[str, Field(max_length=MAX_STRING)], "boolean": bool,
            "date": dt.date}[field.type]


def _label_type(labels: list[str]) -> Any:
    canonical = {label.lower(): label for label in labels}

    def normalise(value: Any) -> Any:
        if isinstance(value, str):
            return canonical.get(value.strip().lower(), value)
        return value

    return Annotated[Literal.__getitem__(tuple(labels)), BeforeValidator(normalise)]


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a number is expected, not true/false")
    return value
