"""The guard's rule tables: what a query may contain, which functions it may call, how big.

Data, not logic: :mod:`nl2sql.safety.guard` walks the tree and consults these tables.
Keeping them apart lets a reviewer read the whole allow/deny surface in one place, and
each entry carries the words a refusal shows a person.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.tokens import TokenType

# Statement roots that are queries; anything else is refused as not read-only.
QUERY_ROOTS = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)

# Statement first words that read as a query (for the message when parsing fails).
QUERY_WORDS = {"SELECT", "WITH", "FROM", "VALUES", "(", "TABLE"}
# Words a mistyped first word is compared with, for "did you mean SELECT?".
STATEMENT_WORDS = frozenset({"SELECT", "WITH", "FROM", "VALUES", "TABLE"})
# Keywords of statements that are not queries. In text that does not parse, any of them
# makes it a refusal rather than a syntax error (``SELECT 1 UNION ALL DROP TABLE t``).
STATEMENT_TOKENS: frozenset[TokenType] = frozenset({
    TokenType.INSERT, TokenType.UPDATE, TokenType.DELETE, TokenType.MERGE, TokenType.CREATE,
    TokenType.DROP, TokenType.ALTER, TokenType.TRUNCATE, TokenType.COPY, TokenType.ATTACH,
    TokenType.DETACH, TokenType.INSTALL, TokenType.LOAD, TokenType.USE, TokenType.SET,
    TokenType.PRAGMA, TokenType.GRANT, TokenType.REVOKE, TokenType.COMMAND, TokenType.EXPORT,
    TokenType.COMMENT, TokenType.BEGIN, TokenType.COMMIT, TokenType.ROLLBACK, TokenType.ANALYZE,
    TokenType.EXECUTE, TokenType.RENAME, TokenType.LOCK,
})

MAX_NODES = 5_000  # far above any hand-written query; bounds the time every check takes

# Nodes that write, change settings or leave the query language, with the
# words a person would use for them.
FORBIDDEN_NODES: dict[type[exp.Expr], str] = {
    exp.Into: "SELECT ... INTO creates a table",
    exp.Insert: "INSERT writes data",
    exp.Update: "UPDATE writes data",
    exp.Delete: "DELETE writes data",
    exp.Merge: "MERGE writes data",
    exp.Create: "CREATE changes the database",
    exp.Drop: "DROP changes the database",
    exp.Alter: "ALTER changes the database",
    exp.TruncateTable: "TRUNCATE deletes data",
    exp.Copy: "COPY reads or writes files",
    exp.Export: "EXPORT writes files",
    exp.Install: "INSTALL loads extensions",
    exp.Attach: "ATTACH opens other databases",
    exp.Detach: "DETACH changes attached databases",
    exp.Use: "USE changes the current database",
    exp.Set: "SET changes settings",
    exp.Pragma: "PRAGMA reads or changes settings",
    exp.Command: "this statement is not a query",
    exp.Transaction: "transactions are not queries",
    exp.Commit: "transactions are not queries",
    exp.Rollback: "transactions are not queries",
    exp.Describe: "DESCRIBE is not a query; ask for the schema instead",
    exp.Summarize: "SUMMARIZE is not a query",
    exp.Grant: "GRANT changes permissions",
    exp.Revoke: "REVOKE changes permissions",
    exp.Analyze: "ANALYZE changes statistics",
    exp.Placeholder: "query parameters are not supported",
    exp.Parameter: "query parameters are not supported",
}

# Functions refused by name, with why. Prefixes cover families.
FORBIDDEN_FUNCTIONS: dict[str, str] = {
    "read_text": "it reads files", "read_blob": "it reads files", "glob": "it lists files",
    "sniff_csv": "it reads files", "getenv": "it reads the environment",
    "current_setting": "it reads settings", "getvariable": "it reads session variables",
    "set_variable": "it changes session variables", "query": "it runs dynamic SQL",
    "query_table": "it runs dynamic SQL",
    "json_execute_serialized_sql": "it runs dynamic SQL",
    "nextval": "it changes a sequence", "currval": "it reads a sequence",
    "setseed": "it changes the random seed", "sqlite_scan": "it reads files",
    "sqlite_attach": "it opens other databases", "postgres_scan": "it reaches other databases",
    "iceberg_scan": "it reads files", "delta_scan": "it reads files",
    "load_extension": "it loads code", "checkpoint": "it writes the database",
    "force_checkpoint": "it writes the database", "export_database": "it writes files",
    "which_secret": "it reads secrets", "st_read": "it reads files",
    "version": "it reveals the system", "current_schemas": "it reveals the system catalog",
    "current_schema": "it reveals the system catalog", "current_user": "it reveals the session",
    "session_user": "it reveals the session", "current_role": "it reveals the session",
    "current_database": "it reveals the system catalog", "current_catalog": "it reveals the system catalog",
    # PostgreSQL, for queries pushed down to a server (refused whatever the source)
    "pg_read_file": "it reads the server's files", "pg_read_binary_file": "it reads the server's files",
    "pg_ls_dir": "it lists the server's files", "pg_stat_file": "it reads the server's files",
    "lo_import": "it reads the server's files", "lo_export": "it writes the server's files",
    "lo_get": "it reads large objects", "dblink": "it reaches other databases",
    "dblink_exec": "it reaches other databases", "pg_sleep": "it holds the server",
    "pg_sleep_for": "it holds the server", "pg_sleep_until": "it holds the server",
    "set_config": "it changes settings", "pg_terminate_backend": "it stops other sessions",
    "pg_cancel_backend": "it stops other sessions", "pg_reload_conf": "it changes settings",
    "pg_advisory_lock": "it takes locks", "pg_try_advisory_lock": "it takes locks",
    "txid_current": "it starts a transaction id", "inet_server_addr": "it reveals the server",
    "pg_backend_pid": "it reveals the session",
    # MySQL and MariaDB
    "load_file": "it reads the server's files", "sleep": "it holds the server",
    "benchmark": "it holds the server", "get_lock": "it takes locks",
    "release_lock": "it takes locks", "is_free_lock": "it reveals locks",
    "master_pos_wait": "it holds the server", "connection_id": "it reveals the session",
    "user": "it reveals the session", "system_user": "it reveals the session",
    "database": "it reveals the system catalog", "schema": "it reveals the system catalog",
    "last_insert_id": "it reveals the session", "found_rows": "it reveals the session",
    "row_count": "it reveals the session", "sys_exec": "it runs programs", "sys_eval": "it runs programs",
    # Spark
    "reflect": "it calls Java code", "java_method": "it calls Java code",
    "try_reflect": "it calls Java code", "input_file_name": "it reveals the server's files",
    "input_file_block_start": "it reveals the server's files",
    "input_file_block_length": "it reveals the server's files",
}
FORBIDDEN_PREFIXES: dict[str, str] = {
    "read_": "it reads files", "parquet_": "it reads files", "duckdb_": "it reveals the system catalog",
    "pragma_": "it reads settings", "http": "it reaches the network", "icu_": "it reads settings",
    "sqlite_": "it reads files", "postgres_": "it reaches other databases",
    "mysql_": "it reaches other databases", "iceberg_": "it reads files", "delta_": "it reads files",
    "pg_": "it reads the server's internals", "lo_": "it reads the server's files",
    "dblink": "it reaches other databases", "gtid_": "it reveals replication",
}
FORBIDDEN_FUNCTION_CLASSES: dict[type[exp.Expr], tuple[str, str]] = {
    exp.ReadCSV: ("read_csv", "it reads files"),
    exp.ReadParquet: ("read_parquet", "it reads files"),
    exp.CurrentVersion: ("version", "it reveals the system"),
    exp.CurrentSchema: ("current_schema", "it reveals the system catalog"),
    exp.CurrentUser: ("current_user", "it reveals the session"),
}
TABLE_FUNCTIONS_ALLOWED = (exp.GenerateSeries, exp.Unnest, exp.Explode)


# Query structure the guard understands; anything else is refused (fail closed).
# Operators (exp.Binary, exp.Unary) are allowed as a family, functions are checked by name.
ALLOWED_NODES: frozenset[type[exp.Expr]] = frozenset({
    exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Values, exp.Subquery, exp.With, exp.CTE,
    exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Qualify, exp.Order, exp.Ordered,
    exp.Limit, exp.Offset, exp.Fetch, exp.LimitOptions, exp.Window, exp.WindowSpec, exp.Column,
    exp.Identifier, exp.Literal, exp.Star, exp.Alias, exp.TableAlias, exp.Table, exp.Tuple,
    exp.Null, exp.Boolean, exp.DataType, exp.DataTypeParam, exp.Var, exp.Interval, exp.Distinct,
    exp.Lambda, exp.Bracket, exp.Slice, exp.PropertyEQ, exp.Kwarg, exp.Lateral, exp.Unnest,
    exp.Columns, exp.Pivot, exp.PivotAlias, exp.In, exp.Between, exp.Exists, exp.Any, exp.All,
    exp.Case, exp.If, exp.Cast, exp.TryCast, exp.Filter, exp.Array, exp.Struct, exp.Tuple,
    exp.Escape, exp.Collate, exp.IgnoreNulls,
    exp.RespectNulls, exp.WithinGroup, exp.RawString, exp.GroupingSets, exp.Cube, exp.Rollup, exp.Dot,
})

# Named functions that sqlglot leaves untyped but that are safe and common.
ALLOWED_NAMED_FUNCTIONS: frozenset[str] = frozenset("""
now today current_date current_timestamp epoch epoch_ms date_part datepart date_diff datediff
date_add date_sub strptime make_date make_time make_timestamp age dayname monthname week
weekofyear dayofweek dayofmonth dayofyear isodow isoyear last_day yearweek century millennium
regexp_matches regexp_replace regexp_extract regexp_extract_all regexp_full_match regexp_split_to_array
string_split str_split split_part string_split_regex contains starts_with ends_with prefix suffix
instr position strpos left right reverse replace translate trim ltrim rtrim upper lower ucase lcase
length len char_length character_length octet_length bit_length concat_ws printf format md5 hash
sha1 sha256 ascii chr unicode ord round ceil ceiling floor abs sign sqrt cbrt pow power exp ln log
log10 log2 greatest least coalesce ifnull nullif nvl list list_value list_extract list_element
list_contains list_has list_position list_sort list_reverse_sort list_distinct list_unique
list_aggregate list_transform list_filter list_reduce list_concat list_slice list_zip array_length
array_contains array_position array_sort array_distinct array_slice array_concat array_to_string
struct_pack struct_extract map map_extract map_keys map_values element_at cardinality row_number
rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value any_value
arg_max arg_min max_by min_by argmax argmin median mode quantile quantile_cont quantile_disc
percentile_cont percentile_disc stddev stddev_pop stddev_samp variance var_pop var_samp covar_pop
covar_samp corr string_agg group_concat listagg histogram bool_and bool_or every count_if countif
approx_count_distinct approx_quantile entropy kurtosis skewness product fsum sumkahan favg bit_and
bit_or bit_xor typeof try_cast isnan isinf isfinite even gamma lgamma factorial gcd lcm degrees
radians pi sin cos tan asin acos atan atan2 cot sinh cosh tanh trunc to_timestamp to_date
time_bucket date_trunc datetrunc strftime extract quarter year month day hour minute second
millisecond microsecond yearmonth nanosecond to_days to_hours to_minutes to_seconds to_years
to_months to_weeks format_bytes bar levenshtein damerau_levenshtein jaccard jaro_similarity
jaro_winkler_similarity hamming editdist3 mismatches concat lpad rpad repeat substring substr
split list_resize array_resize generate_series range unnest json_extract json_extract_string
json_extract_path json_extract_path_text json_value json_exists json_array_length json_keys
json_type json_valid json_object json_array to_json json bitstring_agg
""".split())

# Functions whose size argument is checked: argument index -> largest literal allowed.
SIZE_LIMITS: dict[str, tuple[int, int, str]] = {
    "repeat": (1, 1_000_000, "it builds a string of that many copies"),
    "lpad": (1, 1_000_000, "it pads to that many characters"),
    "rpad": (1, 1_000_000, "it pads to that many characters"),
    "pad": (1, 1_000_000, "it pads to that many characters"),
    "list_resize": (1, 1_000_000, "it builds a list of that size"),
    "array_resize": (1, 1_000_000, "it builds a list of that size"),
}
SERIES_LIMIT = 10_000_000  # rows a range()/generate_series() may produce
FORMAT_WIDTH_LIMIT = 10_000
