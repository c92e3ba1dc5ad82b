"""Stage 7 on Spark: run an accepted query on a Spark Connect server (push-down).

The guard checked, and the access policy rewrote, the query as a DuckDB syntax tree;
sqlglot transpiles it to Spark SQL (:func:`nl2sql.safety.server_engine.transpile`), and:

- the Spark text is checked again before it is sent (:func:`check_spark_sql`): exactly one
  query, every table a plain name, no function the guard refuses by name (those that reach
  files, Java code or the session: :data:`nl2sql.safety.guard_rules.FORBIDDEN_FUNCTIONS`).
  Spark has no read-only transaction to fall back on, so this second look at what is
  actually sent is the wall behind the guard (``spark.sql`` runs a command the moment it
  is given one);
- the row limit is applied on the server (``DataFrame.limit``) and the rows come back as
  Arrow batches, refused past the result-size cap;
- a timeout or Ctrl-C interrupts the operation on the server (``interruptTag``): the Spark
  job is cancelled, not merely abandoned.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from typing import Any

import sqlglot
from sqlglot import exp

from nl2sql.errors import ExecutionError, Interrupted, QueryTimeout, UnsafeSQL
from nl2sql.safety.engine import Limits
from nl2sql.safety.guard_rules import FORBIDDEN_FUNCTIONS, FORBIDDEN_PREFIXES
from nl2sql.schema import spark
from nl2sql.schema.source import Source
from nl2sql.values import GuardedQuery, Result

_TAGS = itertools.count()


def check_spark_sql(text: str) -> None:
    """Refuse Spark text that is not exactly one read-only query over plain table names.

    >>> check_spark_sql("SELECT city, COUNT(*) FROM customers GROUP BY city")
    >>> check_spark_sql("SELECT * FROM parquet.`/etc/secrets`")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nl2sql.errors.UnsafeSQL: the Spark query names parquet.`/etc/secrets`: only its own tables ...
    >>> check_spark_sql("SELECT reflect('java.lang.Runtime', 'getRuntime')")
    Traceback (most recent call last):
    ...
    nl2sql.errors.UnsafeSQL: the Spark query calls reflect, which is not allowed: it calls Java code
    """
    try:
        statements = sqlglot.parse(text, read="spark")
    except sqlglot.errors.SqlglotError:
        raise UnsafeSQL("the Spark query could not be read back; it was not sent") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise UnsafeSQL("only a single SELECT query is sent to Spark")
    tree = statements[0]
    for node in tree.walk():
        if isinstance(node, exp.Command | exp.DML | exp.DDL | exp.Set | exp.Use | exp.Cache
                      | exp.Uncache | exp.Pragma):
            raise UnsafeSQL(f"the Spark query holds a {node.key.upper()} statement")
        if isinstance(node, exp.Table) and not isinstance(node.this, exp.Identifier):
            raise UnsafeSQL("the Spark query reads from a table function; it was not sent")
        if isinstance(node, exp.Table) and (node.args.get("db") or node.args.get("catalog")):
            raise UnsafeSQL(f"the Spark query names {node.sql(dialect='spark')}: only its own "
                            "tables may be read (the database's, by their plain names)")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            reason = FORBIDDEN_FUNCTIONS.get(name) or next(
                (why for prefix, why in FORBIDDEN_PREFIXES.items() if name.startswith(prefix)),
                None)
            if reason:
                raise UnsafeSQL(f"the Spark query calls {name}, which is not allowed: {reason}")


class SparkEngine:
    """Runs accepted queries on the Spark Connect server a :class:`Source` names."""

    def __init__(self, source: Source, limits: Limits) -> None:
        self.source = source
        self.limits = limits
        self.warning: str | None = None

    def start(self) -> None:
        """Nothing to check ahead: Spark Connect has no login whose rights could be read."""

    def close(self) -> None:
        """The session stays for the process (another session may use it)."""

    def run(self, query: GuardedQuery, timeout: float | None = None) -> Result:
        from nl2sql.safety.server_engine import transpile

        left = self.limits.time_left(timeout)
        text = transpile(query.executed_sql or query.sql, "spark")
        check_spark_sql(text)
        started = time.perf_counter()
        table = self._collect(text, left, query, limit=self.limits.max_rows + 1)
        elapsed = (time.perf_counter() - started) * 1000
        if table.nbytes > self.limits.max_bytes:
            raise ExecutionError("the result is larger than allowed (NL2SQL_MAX_RESULT_BYTES); "
                                 "select fewer or shorter values, or fewer rows")
        rows = [tuple(r.values()) for r in table.to_pylist()]
        truncated = len(rows) > self.limits.max_rows
        rows = rows[: self.limits.max_rows]
        truncated = truncated or (query.limited and len(rows) >= (query.limit or 0))
        return Result(columns=list(table.column_names), types=[arrow_type(f.type) for f in table.schema],
                      rows=rows, elapsed_ms=round(elapsed, 2), truncated=truncated)

    def explain(self, query: GuardedQuery) -> str:
        """Spark's plan for an accepted query (never the mask key: the shown SQL)."""
        from nl2sql.safety.server_engine import transpile

        text = transpile(query.shown_sql(), "spark")
        check_spark_sql(text)
        table = self._collect(f"EXPLAIN {text}", self.limits.timeout, query, limit=None)
        return "\n".join(str(v) for row in table.to_pylist() for v in row.values())

    # ------------------------------------------------------------------ running

    def _collect(self, text: str, left: float, query: GuardedQuery, limit: int | None) -> Any:
        """Run ``text`` on the server in a worker thread; interrupt it there when ``left``
        seconds pass or Ctrl-C is pressed."""
        session = spark.session_for(self.source)
        tag = f"nl2sql-{os.getpid()}-{next(_TAGS)}"
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                session.addTag(tag)
                try:
                    frame = session.sql(text)
                    if limit is not None:
                        frame = frame.limit(limit)
                    box["table"] = frame.toArrow()
                finally:
                    session.removeTag(tag)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                box["error"] = exc

        worker = threading.Thread(target=work, name="nl2sql-spark-query", daemon=True)
        pressed = threading.Event()
        previous = None
        if threading.current_thread() is threading.main_thread():
            # Ctrl-C sets a flag the wait below sees within a tenth of a second: the gRPC
            # client's own threads and retries must not be where the KeyboardInterrupt lands
            previous = signal.signal(signal.SIGINT, lambda *_: pressed.set())
        try:
            worker.start()
            deadline = time.monotonic() + left
            while worker.is_alive() and not pressed.is_set() and time.monotonic() < deadline:
                worker.join(0.1)
        except KeyboardInterrupt:
            pressed.set()
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        if pressed.is_set():
            cancelled = self._interrupt(session, tag, worker)
            raise Interrupted("interrupted; " + (
                "the Spark job was cancelled on the server" if cancelled else
                "the server could not be reached to cancel the Spark job"))
        if worker.is_alive():
            cancelled = self._interrupt(session, tag, worker)
            raise QueryTimeout(f"the query ran longer than {self.limits.timeout:g} s "
                               "(NL2SQL_QUERY_TIMEOUT); " + (
                                   "its Spark job was cancelled" if cancelled else
                                   "the server could not be reached to cancel its Spark job"))
        if "error" in box:
            raise self._error(box["error"], query)
        return box["table"]

    def _interrupt(self, session: Any, tag: str, worker: threading.Thread) -> bool:
        """Interrupt the operation tagged ``tag`` on the server: Spark cancels its job and
        asks the job's tasks to stop. Whether the server said it interrupted something."""
        try:
            interrupted = bool(session.interruptTag(tag))
        except Exception:  # noqa: BLE001 - the server is gone: it runs nothing of ours
            interrupted = False
            spark.forget(self.source)
        # the interrupted call returns with an error (ignored); a lost one may never return
        worker.join(5.0 if interrupted else 0.5)
        return interrupted

    def _error(self, exc: BaseException, query: GuardedQuery) -> Exception:
        text = spark.describe_error(self.source, exc)
        if "unavailable" in text:
            spark.forget(self.source)  # a restarted server is reached afresh next time
        return ExecutionError(f"spark: {text}", sql=query.sql)


def arrow_type(arrow: Any) -> str:
    """The DuckDB name of an Arrow column type (what every engine's Result says)."""
    import pyarrow as pa

    if pa.types.is_boolean(arrow):
        return "BOOLEAN"
    if pa.types.is_integer(arrow):
        return "BIGINT" if arrow.bit_width > 32 else "INTEGER"
    if pa.types.is_floating(arrow):
        return "DOUBLE"
    if pa.types.is_decimal(arrow):
        return f"DECIMAL({arrow.precision},{arrow.scale})"
    if pa.types.is_timestamp(arrow):
        return "TIMESTAMP WITH TIME ZONE" if arrow.tz else "TIMESTAMP"
    if pa.types.is_date(arrow):
        return "DATE"
    return "VARCHAR"
