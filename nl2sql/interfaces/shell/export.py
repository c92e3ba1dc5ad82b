"""``\\export``: the last result written to a file, its format following the extension."""

from __future__ import annotations

import tempfile
from pathlib import Path

from nl2sql.errors import ConfigError
from nl2sql.interfaces import render
from nl2sql.interfaces.output import Format
from nl2sql.values import Answer


def write(answer: Answer, path: Path) -> None:
    """Write ``answer`` to ``path``; the format follows the extension."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        path.write_text(render.answer_text(answer, Format.CSV), encoding="utf-8")
    elif suffix == ".json":
        path.write_text(render.to_json({"columns": answer.columns, "rows": answer.rows,
                                        "sql": answer.sql}), encoding="utf-8")
    elif suffix in (".md", ".markdown"):
        path.write_text(render.answer_text(answer, Format.MARKDOWN), encoding="utf-8")
    elif suffix == ".parquet":
        _export_parquet(answer, path)
    else:
        raise ConfigError("\\export writes .csv, .json, .md or .parquet files")


def _export_parquet(answer: Answer, path: Path) -> None:
    # A private, unconfined DuckDB in this process writes the file; no user SQL runs here.
    import duckdb

    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "rows.csv"
        staging.write_text(render.answer_text(answer, Format.CSV), encoding="utf-8")
        con = duckdb.connect()
        source, target = (str(p).replace("'", "''") for p in (staging, path.resolve()))
        try:
            con.execute(f"COPY (SELECT * FROM read_csv('{source}', header = true)) "
                        f"TO '{target}' (FORMAT parquet)")
        except duckdb.Error as exc:
            raise ConfigError(f"cannot write {path}: {str(exc).splitlines()[0]}") from exc
        finally:
            con.close()
