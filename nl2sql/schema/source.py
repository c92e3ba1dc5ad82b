"""Where the data lives: resolve ``--db`` into a :class:`Source` and attach it to DuckDB.

A file (DuckDB, SQLite) is ATTACHed read-only into an in-memory DuckDB database, so the
execution engine speaks one dialect (DuckDB) whatever the file format. A server
(``postgresql://``, ``mysql://``) is not attached: its queries are pushed down to it
(:mod:`nl2sql.safety.server_engine`), and DuckDB only profiles a sample of its rows.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from nl2sql.errors import ConfigError, first_line

SQLITE_MAGIC = b"SQLite format 3\x00"
DUCKDB_MAGIC = b"DUCK"  # bytes 8..12 of a DuckDB file


SERVER_KINDS = ("postgres", "mysql", "spark")
# What a URL's scheme means, and the SQLAlchemy driver nl2sql speaks it with.
SCHEMES = {"postgresql": ("postgres", "postgresql+psycopg"), "postgres": ("postgres", "postgresql+psycopg"),
           "postgresql+psycopg": ("postgres", "postgresql+psycopg"),
           "mysql": ("mysql", "mysql+pymysql"), "mariadb": ("mysql", "mysql+pymysql"),
           "mysql+pymysql": ("mysql", "mysql+pymysql"), "mariadb+pymysql": ("mysql", "mysql+pymysql")}


@dataclass(frozen=True)
class Source:
    """A database to ask questions about.

    ``kind`` is ``duckdb``, ``sqlite``, ``postgres``, ``mysql`` or ``spark``; ``alias`` is the
    catalog name (a file's stem, a server's database name: what binds ``schemas/<alias>.yaml``).
    A server's ``location`` is its URL with the password hidden (``***``): it is what
    messages, caches and the audit log may show; the password itself is kept apart and
    never printed (``repr=False``).
    """

    kind: str
    location: str
    alias: str
    # The extraction workspace (nl2sql extract), attached read-only beside the source
    # so questions can read the extracted tables; None when there is none.
    workspace: str | None = None
    password: str | None = field(default=None, repr=False, compare=False)
    schema: str | None = None  # a server's schema (PostgreSQL: other than public; Spark:
    #                            its database, "catalog.database" when a catalog is named)

    @property
    def is_server(self) -> bool:
        return self.kind in SERVER_KINDS

    @property
    def path(self) -> Path:
        return Path(self.location)

    @property
    def workspace_alias(self) -> str:
        return "workspace" if self.alias != "workspace" else "nl2sql_workspace"

    @property
    def sqlalchemy_url(self) -> Any:
        """A URL string for a file; for a server, a SQLAlchemy ``URL`` holding the password
        (an object, so that printing it by mistake shows ``***``)."""
        if self.is_server:
            import sqlalchemy as sa

            url = sa.make_url(self.location).set(password=self.password)
            return url.difference_update_query(["schema"])
        if self.kind == "sqlite":
            return f"sqlite:///file:{self.location}?mode=ro&uri=true"
        return f"duckdb:///{self.location}"

    @property
    def native_dialect(self) -> str:
        return self.kind


def _alias_for(path: Path) -> str:
    alias = re.sub(r"\W", "_", path.stem) or "db"
    return alias if not alias[0].isdigit() else f"db_{alias}"


def _sniff(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(16)
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head[8:12] == DUCKDB_MAGIC:
        return "duckdb"
    raise ConfigError(f"{path} is neither a DuckDB nor a SQLite database file")


def resolve(db: str) -> Source:
    """Turn the ``--db`` value into a Source, checking that it can be read.

    >>> source = resolve("postgresql://ana:s3cret@db.example:5433/shop?schema=sales")
    >>> source.kind, source.alias, source.schema, source.location
    ('postgres', 'shop', 'sales', 'postgresql+psycopg://ana:***@db.example:5433/shop?schema=sales')
    >>> resolve("oracle://x/y")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nl2sql.errors.ConfigError: database URLs with oracle:// are not supported; ...
    """
    for prefix in ("duckdb:///", "sqlite:///"):
        if db.startswith(prefix):
            db = db[len(prefix):]
    if db.lower().startswith("sc://"):
        return spark_source(db)
    if "://" in db:
        return _server(db)
    path = Path(db).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"database file not found: {path}")
    try:
        kind = _sniff(path)
    except OSError as exc:
        raise ConfigError(f"cannot read database file {path}: {exc}") from exc
    return Source(kind=kind, location=str(path), alias=_alias_for(path))


def _server(text: str) -> Source:
    """A server database from its URL; the password leaves the URL here."""
    import sqlalchemy as sa

    scheme = text.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        raise ConfigError(f"database URLs with {scheme}:// are not supported; use postgresql://, "
                          "mysql:// (MySQL, MariaDB), sc:// (Spark Connect) or a DuckDB or "
                          "SQLite file")
    kind, driver = SCHEMES[scheme]
    try:
        url = sa.make_url(text)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise ConfigError(f"cannot read the database URL ({scheme}://…): "
                          f"{type(exc).__name__}") from None
    if not url.database:
        raise ConfigError(f"the database URL names no database: {scheme}://host/DATABASE")
    password = url.password if isinstance(url.password, str) else None
    url = url.set(drivername=driver)
    schema = url.query.get("schema")
    return Source(kind=kind, location=url.render_as_string(hide_password=True), alias=str(url.database),
                  password=password, schema=str(schema) if isinstance(schema, str) else None)


# Spark Connect's own URL parameters (passed on to the client); ``database`` and ``catalog``
# are nl2sql's: which of the server's databases to ask about.
SPARK_PARAMS = ("token", "user_id", "use_ssl", "session_id", "user_agent", "grpc_max_message_size")
SPARK_OWN_PARAMS = ("database", "catalog")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def spark_source(text: str) -> Source:
    """A Spark Connect server from its URL: ``sc://host[:port][/;param=value;...]``.

    >>> s = spark_source("sc://lake.example:15002/;token=abc;database=sales")
    >>> s.kind, s.alias, s.schema, s.location, s.password
    ('spark', 'sales', 'sales', 'sc://lake.example:15002/;token=***;database=sales', 'abc')
    >>> spark_source("sc://localhost").alias, spark_source("sc://h/;catalog=c;database=d").schema
    ('default', 'c.d')
    """
    rest = text[len("sc://"):]
    where, _, params = rest.partition("/")
    host, _, port = where.partition(":")
    if not host or (port and not (port.isdigit() and 0 < int(port) < 65536)):
        raise ConfigError("cannot read the Spark Connect URL: write sc://HOST:PORT "
                          "(e.g. sc://localhost:15002)")
    options: dict[str, str] = {}
    for part in params.strip(";").split(";") if params.strip(";") else []:
        name, eq, value = part.partition("=")
        name = name.strip().lower()
        if not eq or name not in SPARK_PARAMS + SPARK_OWN_PARAMS:
            raise ConfigError(f"unknown Spark Connect URL parameter {name or part!r}: use "
                              f"{', '.join(SPARK_OWN_PARAMS + SPARK_PARAMS)}")
        options[name] = value.strip()
    for name in SPARK_OWN_PARAMS:
        if name in options and not _NAME.fullmatch(options[name]):
            raise ConfigError(f"the Spark {name} in the URL must be a plain name, "
                              f"not {options[name]!r}")
    database = options.get("database") or None
    schema = ".".join(n for n in (options.get("catalog"), database) if n) or None
    shown = ";".join(f"{k}={'***' if k == 'token' else v}" for k, v in options.items())
    location = f"sc://{host}{':' + port if port else ''}/" + (f";{shown}" if shown else "")
    return Source(kind="spark", location=location.rstrip("/") if not shown else location,
                  alias=database or "default", password=options.get("token"), schema=schema)


def spark_client_url(source: Source) -> str:
    """The URL the Spark Connect client is given: the token put back, nl2sql's own
    parameters left out (the client would send them on as request headers)."""
    base, _, params = source.location.partition("/;")
    kept = []
    for part in params.split(";") if params else []:
        name, _, value = part.partition("=")
        if name in SPARK_OWN_PARAMS:
            continue
        kept.append(f"{name}={source.password if name == 'token' else value}")
    return base.rstrip("/") + ("/;" + ";".join(kept) if kept else "")


def sqlite_extension_path(cache_dir: Path) -> Path:
    """The sqlite extension from its PyPI package, under the file name DuckDB expects.

    DuckDB derives the extension's entry point from the file name, and the
    package ships it as ``sqlite.duckdb_extension``; the entry point is
    ``sqlite_scanner``, so a copy with that name is kept in the cache.
    """
    import duckdb_extension_sqlite

    package_dir = Path(duckdb_extension_sqlite.__file__).parent / "extensions"
    shipped = next(package_dir.glob(f"v{duckdb.__version__}/sqlite.duckdb_extension"), None)
    if shipped is None:
        raise ConfigError(f"the sqlite extension for duckdb {duckdb.__version__} is not installed")
    target = cache_dir / "extensions" / f"v{duckdb.__version__}" / "sqlite_scanner.duckdb_extension"
    if not target.is_file() or target.stat().st_size != shipped.stat().st_size:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(shipped, tmp)
        tmp.replace(target)
    return target


def connect(source: Source, cache_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with ``source`` attached read-only and in use.

    Not yet confined: the engine confines it before any untrusted SQL runs.
    """
    if source.is_server:  # a bounded sample of its tables, for profiling and scanning only
        from nl2sql.schema.server import sample_connection

        return sample_connection(source)
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoload_known_extensions": False, "autoinstall_known_extensions": False}
    con = duckdb.connect(":memory:", config=config)
    try:
        if source.kind == "sqlite":
            con.execute(f"LOAD '{_quote(str(sqlite_extension_path(cache_dir)))}'")
            options = "TYPE sqlite, READ_ONLY"
        else:
            options = "READ_ONLY"
        con.execute(f"ATTACH '{_quote(source.location)}' AS \"{source.alias}\" ({options})")
        _attach_workspace(con, source)
        use(con, source)
    except duckdb.Error as exc:
        con.close()
        raise ConfigError(f"cannot open {source.location}: {first_line(exc)}") from exc
    return con


def _attach_workspace(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    """Attach the extraction workspace read-only, if it can be: while an extraction is
    writing to it, DuckDB's file lock keeps others out and questions go on without it."""
    if not source.workspace:
        return
    try:
        con.execute(f"ATTACH '{_quote(source.workspace)}' AS \"{source.workspace_alias}\" "
                    "(READ_ONLY)")
    except duckdb.Error:
        pass


def use(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    """Make ``source`` the current database, and let unqualified names fall back to the
    workspace (source tables first). Needed on every new cursor: both are per connection."""
    con.execute(f'USE "{source.alias}"')
    if source.workspace:
        try:
            con.execute(f"SET search_path = '\"{source.alias}\".main,"
                        f"\"{source.workspace_alias}\".main'")
        except duckdb.Error:
            pass  # the workspace is not attached (see _attach_workspace)


def _quote(text: str) -> str:
    return text.replace("'", "''")

