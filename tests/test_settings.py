"""Settings: flags > environment > .env > defaults, and strict validation.

Every test passes ``environ`` and ``env_file`` explicitly, so nothing from the outer
environment or the working directory leaks in.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nl2sql.errors import ConfigError
from nl2sql.settings import ENV_VARS, Settings, load_settings, read_env_file


def write_env(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".env"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- precedence


def test_defaults_without_any_source() -> None:
    settings = load_settings(flags=None, environ={}, env_file=None)
    assert settings == Settings()
    assert settings.drafter == "auto"
    assert settings.row_limit == 1000
    assert settings.api_key is None
    assert settings.has_model is False


def test_env_file_overrides_defaults(tmp_path: Path) -> None:
    env_file = write_env(tmp_path, "NL2SQL_ROW_LIMIT=50\nNL2SQL_MODEL=qwen-plus\n")
    settings = load_settings(flags=None, environ={}, env_file=env_file)
    assert settings.row_limit == 50
    assert settings.model == "qwen-plus"
    assert settings.query_timeout == Settings().query_timeout  # untouched -> default


def test_environment_overrides_env_file(tmp_path: Path) -> None:
    env_file = write_env(tmp_path, "NL2SQL_ROW_LIMIT=50\nNL2SQL_MODEL=from-file\n")
    settings = load_settings(flags=None, environ={"NL2SQL_ROW_LIMIT": "70"}, env_file=env_file)
    assert settings.row_limit == 70
    assert settings.model == "from-file"


def test_flags_override_environment_and_env_file(tmp_path: Path) -> None:
    env_file = write_env(tmp_path, "NL2SQL_ROW_LIMIT=50\nNL2SQL_DRAFTER=model\n")
    environ = {"NL2SQL_ROW_LIMIT": "70", "NL2SQL_DRAFTER": "offline"}
    settings = load_settings(flags={"row_limit": 5, "drafter": "auto"}, environ=environ,
                             env_file=env_file)
    assert settings.row_limit == 5
    assert settings.drafter == "auto"


def test_none_flags_do_not_override(tmp_path: Path) -> None:
    """A CLI option the user did not give arrives as None and must not win."""
    environ = {"NL2SQL_ROW_LIMIT": "70", "NL2SQL_DB": "/data/x.duckdb"}
    settings = load_settings(flags={"row_limit": None, "db": None}, environ=environ,
                             env_file=None)
    assert settings.row_limit == 70
    assert settings.db == "/data/x.duckdb"


def test_empty_environment_value_counts_as_unset() -> None:
    settings = load_settings(flags=None, environ={"NL2SQL_ROW_LIMIT": "  ", "OPENAI_API_KEY": ""},
                             env_file=None)
    assert settings.row_limit == Settings().row_limit
    assert settings.api_key is None


def test_missing_env_file_is_fine(tmp_path: Path) -> None:
    settings = load_settings(flags=None, environ={}, env_file=tmp_path / "nope.env")
    assert settings == Settings()


def test_every_environment_variable_reaches_its_field(tmp_path: Path) -> None:
    environ = {
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": "http://localhost:11434/v1",
        "NL2SQL_MODEL": "qwen2.5",
        "NL2SQL_DB": "/tmp/some.duckdb",
        "NL2SQL_DRAFTER": "model",
        "NL2SQL_ROW_LIMIT": "12",
        "NL2SQL_QUERY_TIMEOUT": "2.5",
        "NL2SQL_MODEL_TIMEOUT": "7",
        "NL2SQL_MODEL_RETRIES": "0",
        "NL2SQL_MAX_REPAIRS": "4",
        "NL2SQL_MEMORY_LIMIT": "512MB",
        "NL2SQL_THREADS": "3",
        "NL2SQL_MAX_RESULT_BYTES": "2048",
        "NL2SQL_CACHE_DIR": str(tmp_path / "cache"),
        "NL2SQL_SCHEMAS": str(tmp_path / "schemas"),
        "NL2SQL_SEMANTIC": str(tmp_path / "policy.yaml"),
        "NL2SQL_AUDIT_LOG": str(tmp_path / "audit" / "log.jsonl"),
        "NL2SQL_WORKSPACE": str(tmp_path / "ws.duckdb"),
        "NL2SQL_PRICE_INPUT": "0.15",
        "NL2SQL_PRICE_OUTPUT": "0.6",
        "NL2SQL_ROLE": "steward",
        "NL2SQL_MASK_KEY_FILE": str(tmp_path / "mask.key"),
        "NL2SQL_EMBEDDING_MODEL": "bge-m3",
        "NL2SQL_EMBEDDING_BASE_URL": "http://127.0.0.1:8080/v1",
    }
    assert set(environ) == set(ENV_VARS), "test out of date with ENV_VARS"
    s = load_settings(flags=None, environ=environ, env_file=None)
    assert (s.embedding_model, s.embedding_base_url) == ("bge-m3", "http://127.0.0.1:8080/v1")
    assert (s.api_key, s.base_url, s.model, s.db, s.drafter) == (
        "sk-test", "http://localhost:11434/v1", "qwen2.5", "/tmp/some.duckdb", "model")
    assert (s.row_limit, s.query_timeout, s.model_timeout) == (12, 2.5, 7.0)
    assert (s.model_retries, s.max_repairs, s.memory_limit, s.threads) == (0, 4, "512MB", 3)
    assert s.max_result_bytes == 2048
    assert s.cache_dir == tmp_path / "cache"
    assert s.schemas_dir == tmp_path / "schemas"
    assert s.semantic == tmp_path / "policy.yaml"
    assert s.audit_log == tmp_path / "audit" / "log.jsonl"
    assert (s.workspace, s.price_input, s.price_output) == (tmp_path / "ws.duckdb", 0.15, 0.6)
    assert (s.role, s.mask_key_file) == ("steward", tmp_path / "mask.key")
    assert isinstance(s.cache_dir, Path) and isinstance(s.schemas_dir, Path)
    assert s.has_model


def test_env_file_syntax_comments_quotes_and_export(tmp_path: Path) -> None:
    env_file = write_env(tmp_path, (
        "# a comment\n"
        "\n"
        "export NL2SQL_MODEL=deepseek-chat\n"
        'NL2SQL_DRAFTER="offline"\n'
        "NL2SQL_MEMORY_LIMIT='1GB'  # trailing comment\n"
        "OPENAI_API_KEY=\n"
    ))
    assert read_env_file(env_file)["NL2SQL_MODEL"] == "deepseek-chat"
    s = load_settings(flags=None, environ={}, env_file=env_file)
    assert s.model == "deepseek-chat"
    assert s.drafter == "offline"
    assert s.memory_limit == "1GB"
    assert s.api_key is None


def test_env_example_loads_cleanly() -> None:
    """The shipped ``.env.example`` is itself a valid ``.env``."""
    example = Path(__file__).resolve().parent.parent / ".env.example"
    if not example.is_file():
        pytest.skip(".env.example not present")
    settings = load_settings(flags=None, environ={}, env_file=example)
    assert settings.drafter in ("auto", "model", "offline")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("bad_line", [
    "this is not valid",
    "FOO='unterminated",
    "'starts with a quote",
])
def test_malformed_env_line_names_file_and_line(tmp_path: Path, bad_line: str) -> None:
    env_file = write_env(tmp_path, f"NL2SQL_ROW_LIMIT=5\n# fine\n{bad_line}\nNL2SQL_MODEL=m\n")
    with pytest.raises(ConfigError) as info:
        load_settings(flags=None, environ={}, env_file=env_file)
    message = info.value.message
    assert str(env_file) in message or ".env" in message
    assert ":3" in message, f"line number 3 not named in {message!r}"
    assert bad_line.split()[0].strip("'") in message
    assert "\n" not in message


def test_unreadable_env_file_is_config_error(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"NL2SQL_MODEL=\xff\xfe\xfa\n")
    with pytest.raises(ConfigError):
        load_settings(flags=None, environ={}, env_file=env_file)


@pytest.mark.parametrize(("var", "value"), [
    ("NL2SQL_ROW_LIMIT", "abc"),
    ("NL2SQL_ROW_LIMIT", "1.5"),
    ("NL2SQL_ROW_LIMIT", "0"),
    ("NL2SQL_ROW_LIMIT", "-3"),
    ("NL2SQL_QUERY_TIMEOUT", "soon"),
    ("NL2SQL_QUERY_TIMEOUT", "0"),
    ("NL2SQL_QUERY_TIMEOUT", "-1"),
    ("NL2SQL_QUERY_TIMEOUT", "nan"),
    ("NL2SQL_MODEL_TIMEOUT", "nan"),
    ("NL2SQL_MODEL_TIMEOUT", "0"),
    ("NL2SQL_MODEL_RETRIES", "-1"),
    ("NL2SQL_MODEL_RETRIES", "three"),
    ("NL2SQL_MAX_REPAIRS", "-1"),
    ("NL2SQL_THREADS", "0"),
    ("NL2SQL_THREADS", "two"),
])
def test_bad_numbers_are_config_errors(var: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(flags=None, environ={var: value}, env_file=None)
    assert "\n" not in info.value.message


def test_bad_number_in_env_file_is_config_error(tmp_path: Path) -> None:
    env_file = write_env(tmp_path, "NL2SQL_ROW_LIMIT=abc\n")
    with pytest.raises(ConfigError) as info:
        load_settings(flags=None, environ={}, env_file=env_file)
    assert "abc" in info.value.message
    assert "row_limit" in info.value.message.lower()


def test_bad_number_message_names_value_and_setting() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(flags=None, environ={"NL2SQL_ROW_LIMIT": "abc"}, env_file=None)
    assert "abc" in info.value.message
    assert "row_limit" in info.value.message.lower()
    assert info.value.exit_code == 2


@pytest.mark.parametrize("source", ["flag", "env"])
def test_invalid_drafter(source: str) -> None:
    flags = {"drafter": "magic"} if source == "flag" else None
    environ = {"NL2SQL_DRAFTER": "magic"} if source == "env" else {}
    with pytest.raises(ConfigError) as info:
        load_settings(flags=flags, environ=environ, env_file=None)
    assert "magic" in info.value.message
    for allowed in ("auto", "model", "offline"):
        assert allowed in info.value.message


@pytest.mark.parametrize("url", [
    "localhost:11434/v1",
    "ftp://models.example.com/v1",
    "api.openai.com/v1",
    "http://",
])
def test_bad_base_url(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(flags=None, environ={"OPENAI_BASE_URL": url}, env_file=None)
    assert url in info.value.message


@pytest.mark.parametrize("url", [
    "http://localhost:11434/v1",
    "https://api.deepseek.com/v1",
    "http://127.0.0.1:8000/v1",
])
def test_good_base_urls(url: str) -> None:
    assert load_settings(flags=None, environ={"OPENAI_BASE_URL": url},
                         env_file=None).base_url == url


def test_with_overrides_ignores_none_and_is_a_copy() -> None:
    base = Settings(row_limit=10)
    changed = base.with_overrides(row_limit=None, model="m2")
    assert changed.row_limit == 10 and changed.model == "m2"
    assert base.model == Settings().model
