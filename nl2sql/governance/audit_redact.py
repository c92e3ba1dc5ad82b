"""What the audit log may keep of a query: no personal value, whoever ran it.

The log is read by every role (``nl2sql audit``, ``\\audit``), so a steward's
``WHERE phone = '13812345678'`` must not reach the analyst through it. Before a record is
written (and again when a record an earlier version wrote is listed) the :class:`Redactor`:

* replaces, on the syntax tree, every literal compared with a *personal* column by
  ``'[redacted]'``: ``=``, ``IN`` lists and subqueries, ``LIKE``, ``BETWEEN``, functions
  over the column (``lower(email) = '...'``, ``contains(phone, '...')``), inside joins,
  subqueries and CTEs. A column is personal when any role of the catalog masks or denies
  it, or it is tagged ``pii`` (the steward who unmasks everything is no exception: the
  log is not a copy of the data). Columns are resolved against the catalog through
  aliases, derived tables and CTEs; one that cannot be resolved (a typo in a failed query)
  counts as personal, and without a catalog every column does;
* replaces, inside the string literals and identifiers left, every value the scanner's
  detectors recognise (phones, e-mails, ID and card numbers, ...) by its kind, ``[phone]``:
  a literal hidden in a CTE and joined later still does not reach the log;
* removes from the question (prose, where the detectors do not know names) every value the
  SQL compared with a personal column and every name a message quoted;
* scrubs error messages: DuckDB quotes the values it could not handle
  (``Could not convert string '13812345678' to INT32``) and repeats the query's line, so
  every single-quoted span of a *message* becomes ``'[redacted]'`` and detected values
  their kind. A message is prose written by DuckDB or by us, not SQL, which is why a
  regular expression over it is the right tool there (and never over the SQL);
* lists the ``table.column``s a failed or refused query touched, so "who tried to read
  customers.phone?" also finds the attempts that did not run.

A query that does not parse (a failed query with a syntax error) is redacted on
sqlglot's tokens: every string and every number of five digits or more goes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from nl2sql import pii_patterns
from nl2sql.catalog import Catalog

if TYPE_CHECKING:
    from sqlglot.optimizer.scope import Scope

    from nl2sql.governance.audit_record import AuditAttempt, AuditRecord

REDACTED = "[redacted]"
UNKNOWN = "*"  # what ``redacted`` lists for a column that could not be resolved
UNREADABLE = "-- [redacted: the SQL could not be read]"
# Nodes an "island" (the expression a literal is compared within) does not cross: the
# boolean connectives, the clauses and the branches of a CASE.
_BOUNDARIES = (exp.Connector, exp.Query, exp.Subquery, exp.Where, exp.Having, exp.Qualify,
               exp.Join, exp.Limit, exp.Offset, exp.Fetch, exp.Order, exp.Group, exp.If,
               exp.Case, exp.CTE, exp.With)
# Nodes that hold a value typed into the SQL: literals and the other string forms
# ($$raw$$, E'escaped', N'national', U&'unicode', X'hex', B'bits').
_VALUES: tuple[type[exp.Expr], ...] = (exp.Literal, exp.RawString, exp.ByteString,
                                       exp.HexString, exp.BitString, exp.National,
                                       exp.UnicodeString)
# A quoted span of an error message ('' or "" inside is an escaped quote): DuckDB quotes
# values both ways ("date field value out of range: \"13812345678\""), the offline
# drafter quotes the words it did not understand in curly quotes (“杨蕾洁”).
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|“[^”]*”|‘[^’]*’|「[^」]*」")
# Numbers this long may be phones or ID numbers when the SQL cannot be parsed.
_LONG_NUMBER = 5


def personal_columns(catalog: Catalog) -> frozenset[str]:
    """``table.column`` of every column some role may not see in clear (masked, denied, its
    text redacted), or tagged ``pii``."""
    from nl2sql.safety.policy.roles import resolve, role_names

    refs: set[str] = set()
    denied_tables: set[str] = set()
    for name in role_names(catalog):
        policy = resolve(catalog, name)
        refs |= set(policy.masks) | set(policy.denied_columns) | set(policy.redactions)
        denied_tables |= set(policy.denied_tables)
    for table in catalog.tables.values():
        for column in table.columns:
            tags = column.tags
            if (tags.get("pii") or tags.get("deny") or tags.get("pii_mentions")
                    or tags.get("redact_text")
                    or str(tags.get("mask", "none")) != "none" or table.name in denied_tables):
                refs.add(f"{table.name}.{column.name}")
    return frozenset(ref.lower() for ref in refs)


# What any value the detectors find needs (pii_patterns.CANDIDATE, which the secure view's
# redaction relies on too), a dotted number (an IPv4 address, 10.0.0.1) or hex groups
# with colons (IPv6, fe80::1caa:a21e).
_MAY_HOLD_A_VALUE = re.compile(f"{pii_patterns.CANDIDATE}|[0-9][.][0-9]|[0-9A-Fa-f]?::?[0-9A-Fa-f]")


def mask_values(text: str) -> str:
    """``text`` with every value the scanner's detectors find replaced by its kind.

    >>> mask_values("call 138-1234-5678 or mail z@qq.com")
    'call [phone] or mail [email]'
    >>> mask_values("transcript LIKE '%li.wei@example.com%'")
    "transcript LIKE '%[email]%'"
    """
    if not _MAY_HOLD_A_VALUE.search(text):
        return text  # most strings of a record: the detectors (and their import) not needed
    from nl2sql.governance.pii_detect import find_all

    pieces: list[str] = []
    end = 0
    # A LIKE pattern's % is no part of a value ('%li.wei@example.com%'), but e-mail syntax
    # allows it, so the detectors would not see an address starting after one. Searched
    # with spaces in its place (same positions), replaced in the text itself.
    for match in find_all(text.replace("%", " ")):
        if match.start < end:
            continue  # inside a span already replaced (an address around a number)
        pieces += [text[end:match.start], f"[{match.kind}]"]
        end = match.end
    return "".join(pieces) + text[end:] if pieces else text


def scrub_message(text: str | None, names: frozenset[str] = frozenset()) -> str | None:
    r"""An error message without the values it quotes (see the module's docstring); a
    quoted span that is one of ``names`` (the catalog's tables and columns, lower case)
    stays, so 'column "phone" not found' keeps saying which.

    >>> print(scrub_message('Cannot convert \'13812345678\' (column "phone", "x")',
    ...                     frozenset({"phone"})))
    Cannot convert '[redacted]' (column "phone", "[redacted]")
    """
    if text is None:
        return None

    def scrubbed(match: re.Match[str]) -> str:
        span = match.group(0)
        if _unquoted(span).lower() in names:
            return span
        return f"{span[0]}{REDACTED}{span[-1]}"

    return mask_values(_QUOTED.sub(scrubbed, text))


def quoted_values(text: str | None, names: frozenset[str] = frozenset()) -> list[str]:
    """What a message quotes that looks like a person's name or holds a detected value: to
    be removed from the question too ("orders of 杨蕾洁" declined as 'not “杨蕾洁”'; a
    declined "tell me a joke" keeps its joke).

    >>> quoted_values("I understood “orders rows” but not “杨蕾洁” or “joke”")
    ['杨蕾洁']
    """
    from nl2sql.governance.pii_detect import find_all, is_person_name

    return [value for match in _QUOTED.finditer(text or "")
            if (value := _unquoted(match.group(0))).lower() not in names
            and (is_person_name(value) or find_all(value))]


def _unquoted(span: str) -> str:
    quote = span[0]
    return span[1:-1].replace(quote * 2, quote)


def _without(text: str, values: Iterable[str]) -> str:
    """Prose (a question) without the values the SQL or the messages gave away: the tree
    knows them as personal, the question is the same words in another place."""
    for value in sorted({v.strip("%_ ") for v in values}, key=len, reverse=True):
        if len(value) >= 2 and value != REDACTED:
            text = text.replace(value, REDACTED)
    return text


@dataclass(frozen=True)
class Redaction:
    """A query as the log keeps it: its text, the ``table.column``s whose compared literals
    were replaced, and the ``table.column``s it touched (resolved against the catalog)."""

    sql: str
    redacted: list[str] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)  # the literals replaced, as they were


@dataclass(frozen=True)
class Redactor:
    """Redaction against one catalog; ``catalog=None`` (a record written without one, or
    listed from an earlier version's log) treats every column as personal."""

    catalog: Catalog | None = None
    personal: frozenset[str] = frozenset()
    # A record's SQL and its last attempt's are usually the same text: parsed once.
    _done: dict[str, Redaction] = field(default_factory=dict, compare=False, repr=False)

    @property
    def names(self) -> frozenset[str]:
        """The catalog's table and column names, lower case (kept when an error quotes
        them)."""
        if self.catalog is None:
            return frozenset()
        return frozenset({t.name.lower() for t in self.catalog.tables.values()}
                         | {c.name.lower() for t in self.catalog.tables.values()
                            for c in t.columns})

    @classmethod
    def for_catalog(cls, catalog: Catalog | None) -> Redactor:
        return cls(catalog, personal_columns(catalog)) if catalog is not None else cls()

    # -- queries ------------------------------------------------------------------------

    def sql(self, text: str | None) -> Redaction | None:
        """``text`` with the literals compared with personal columns replaced."""
        if text is None:
            return None
        if text not in self._done:
            self._done[text] = self._sql(text)
        return self._done[text]

    def _sql(self, text: str) -> Redaction:
        try:
            trees = [t for t in sqlglot.parse(text, read="duckdb") if t is not None]
        except (ParseError, TokenError):
            return Redaction(_token_redacted(text), [UNKNOWN])
        except Exception:  # noqa: BLE001 - sqlglot's other internal errors: nothing kept
            return Redaction(UNREADABLE, [UNKNOWN])
        spans: list[tuple[int, int, str]] = []
        redacted: list[str] = []
        touched: list[str] = []
        values: list[str] = []
        for tree in trees:
            walk = _Walk(self, tree, spans, redacted, touched)
            walk.run()
            values += walk.values
        if any(start < 0 for start, _, _ in spans):  # a node without a position was changed
            rendered = ";\n".join(tree.sql(dialect="duckdb") for tree in trees)
            return Redaction(rendered, sorted(set(redacted)), touched, values)
        return Redaction(_spliced(text, spans), sorted(set(redacted)), touched, values)

    # -- records ------------------------------------------------------------------------

    def record(self, record: AuditRecord) -> AuditRecord:
        """``record`` as the log keeps it; ``redacted`` set (``[]`` when nothing was)."""
        from nl2sql.governance.audit_record import RecordError

        names = self.names
        redacted: set[str] = set(record.redacted or [])
        values: list[str] = []
        main = self.sql(record.sql)
        attempts = [self._attempt(a, redacted, values, names) for a in record.attempts]
        columns, tables = list(record.columns), list(record.tables)
        if main is not None:
            redacted |= set(main.redacted)
            values += main.values
            if record.decision != "accepted" and not columns and self.catalog is not None:
                columns = main.touched  # failed and refused queries: what they reached for
                tables = list(dict.fromkeys(ref.split(".")[0] for ref in columns))
        error = record.error
        values += quoted_values(record.reason, names)
        values += quoted_values(error.message if error else None, names)
        question = record.question
        if question is not None:  # a question is prose; ours (extract, role) may quote SQL
            question = _without(question, values)
            question = (scrub_message(question, names) if record.command == "extract"
                        else mask_values(question))
        return replace(
            record, sql=None if main is None else main.sql, attempts=attempts,
            question=question, reason=scrub_message(record.reason, names),
            columns=columns, tables=tables,
            error=None if error is None else RecordError(error.kind,
                                                         scrub_message(error.message, names)),
            extract=_scrub_extract(record.extract), redacted=sorted(redacted))

    def _attempt(self, attempt: AuditAttempt, redacted: set[str], values: list[str],
                 names: frozenset[str]) -> AuditAttempt:
        from nl2sql.governance.audit_record import AttemptError

        found = self.sql(attempt.sql)
        if found is not None:
            redacted |= set(found.redacted)
            values += found.values
        error = attempt.error
        values += quoted_values(error.message if error else None, names)
        return replace(attempt, sql=None if found is None else found.sql,
                       error=None if error is None else AttemptError(
                           error.kind, error.rule, scrub_message(error.message, names)))

    # -- columns ------------------------------------------------------------------------

    def resolve(self, column: exp.Column, scope: Scope | None, depth: int = 0) -> list[str]:
        """The catalog ``table.column``s ``column`` reads (``*`` when unknown)."""
        if self.catalog is None or depth > 32:
            return [UNKNOWN]
        sources = dict(scope.sources) if scope is not None else {}
        if column.table:
            source = sources.get(column.table)
            candidates = [source] if source is not None else []
        else:  # unqualified: the sources that have a column of that name
            candidates = [s for s in sources.values() if self._has(s, column.name)]
        refs: list[str] = []
        for source in candidates:
            refs += self._through(source, column.name, depth)
        if refs:
            return refs
        return self._by_name(column.name)

    def _has(self, source: Any, name: str) -> bool:
        from sqlglot.optimizer.scope import Scope

        if isinstance(source, exp.Table):
            real = self.catalog.table(source.name) if self.catalog else None
            return real is not None and real.column(name) is not None
        if isinstance(source, Scope):
            return _projection(source, name) is not None
        return False

    def _through(self, source: Any, name: str, depth: int) -> list[str]:
        from sqlglot.optimizer.scope import Scope

        if isinstance(source, exp.Table):
            real = self.catalog.table(source.name) if self.catalog else None
            column = real.column(name) if real is not None else None
            return [f"{real.name}.{column.name}"] if real is not None and column else []
        if isinstance(source, Scope):
            projection = _projection(source, name)
            if projection is None:
                return []
            refs = [ref for inner in projection.find_all(exp.Column)
                    for ref in self.resolve(inner, source, depth + 1)]
            return refs or ([] if _literal_only(projection) else [UNKNOWN])
        return []

    def _by_name(self, name: str) -> list[str]:
        """A column no source of its scope has: personal if any personal column has that
        name, unknown (so personal) if no table of the catalog has it."""
        assert self.catalog is not None
        lowered = name.lower()
        hits = [f"{t.name}.{c.name}" for t in self.catalog.tables.values() for c in t.columns
                if c.name.lower() == lowered]
        personal = [ref for ref in hits if ref.lower() in self.personal]
        return personal or hits[:1] or [UNKNOWN]

    def is_personal(self, ref: str) -> bool:
        return ref == UNKNOWN or ref.lower() in self.personal


class _Walk:
    """One statement's literals, decided on its tree (spans into the original text)."""

    def __init__(self, redactor: Redactor, tree: exp.Expr, spans: list[tuple[int, int, str]],
                 redacted: list[str], touched: list[str]) -> None:
        self.redactor, self.tree = redactor, tree
        self.spans, self.redacted, self.touched = spans, redacted, touched
        self.owner: dict[int, Scope | None] = {}
        self.done: set[int] = set()
        self.values: list[str] = []  # the literals replaced by REDACTED, as they were

    def run(self) -> None:
        from sqlglot.optimizer.scope import traverse_scope

        try:
            scopes = traverse_scope(self.tree)
        except Exception:  # noqa: BLE001 - a shape scope building rejects: resolve by name
            scopes = []
        self._own_columns(scopes)
        for scope in scopes:
            selects = scope.expression.selects if isinstance(scope.expression, exp.Select) else []
            if any(isinstance(s, exp.Star) or (isinstance(s, exp.Column)
                                               and isinstance(s.this, exp.Star))
                   for s in selects):
                self._touch_all(scope)
        for column in self.tree.find_all(exp.Column):
            for ref in self.redactor.resolve(column, self.owner.get(id(column))):
                if ref != UNKNOWN and ref not in self.touched:
                    self.touched.append(ref)
        # a literal, or a subquery compared with something (``phone IN (SELECT '...')``)
        operands = [n for n in self.tree.find_all(*_VALUES, exp.Subquery, exp.Query)
                    if isinstance(n, _VALUES) or (
                        n.parent is not None and not isinstance(n.parent, _BOUNDARIES)
                        and not isinstance(n.parent, exp.From))]
        for literal in operands:
            if id(literal) in self.done:
                continue
            island = _island(literal)
            personal = self._personal_refs(island)
            if personal:
                self.redacted.extend(personal)
                for inner in _literals(island, into_queries=True):
                    self._replace(inner, REDACTED)
        for node in self.tree.find_all(*_VALUES, exp.Identifier):
            if id(node) in self.done or (isinstance(node, exp.Literal) and not node.is_string):
                continue
            masked = mask_values(str(node.this))
            if masked != node.this:
                self._replace(node, masked)

    def _own_columns(self, scopes: list[Scope]) -> None:
        """Each column's scope, in one walk down the tree. (``Scope.columns`` looks up
        every column's ancestors: quadratic on a long ``AND`` chain, 2,400 predicates took
        seconds.)"""
        by_expression = {id(scope.expression): scope for scope in scopes}
        stack: list[tuple[exp.Expr, Scope | None]] = [(self.tree, None)]
        while stack:
            node, scope = stack.pop()
            scope = by_expression.get(id(node), scope)
            if isinstance(node, exp.Column):
                self.owner[id(node)] = scope
            stack.extend((child, scope) for child in node.iter_expressions())

    def _touch_all(self, scope: Scope) -> None:
        for source in scope.sources.values():
            real = (self.redactor.catalog.table(source.name)
                    if isinstance(source, exp.Table) and self.redactor.catalog else None)
            if real is None:
                continue
            for column in real.columns:
                ref = f"{real.name}.{column.name}"
                if ref not in self.touched:
                    self.touched.append(ref)

    def _personal_refs(self, island: exp.Expr) -> list[str]:
        refs = [ref for column in _columns(island)
                for ref in self.redactor.resolve(column, self.owner.get(id(column)))]
        return [ref for ref in refs if self.redactor.is_personal(ref)]

    def _replace(self, node: exp.Expr, text: str) -> None:
        self.done.add(id(node))
        if text == REDACTED:
            self.values.append(str(node.this))
        start, end = node.meta.get("start"), node.meta.get("end")
        if isinstance(node, exp.Identifier):
            replacement: exp.Expr = exp.to_identifier(text, quoted=True)
        else:
            replacement = exp.Literal.string(text)
        if isinstance(start, int) and isinstance(end, int):
            self.spans.append((start, end + 1, replacement.sql(dialect="duckdb")))
        else:
            self.spans.append((-1, -1, ""))  # no position: the whole text is re-rendered
        if isinstance(node, exp.Identifier):
            node.set("this", text)
        elif node.parent is not None:
            node.replace(replacement)
        else:
            node.set("this", text)


def _island(literal: exp.Expr) -> exp.Expr:
    """The largest expression around ``literal`` that does not cross a boundary."""
    node = literal
    while node.parent is not None and not isinstance(node.parent, _BOUNDARIES):
        node = node.parent
    return node


def _columns(island: exp.Expr) -> Iterable[exp.Column]:
    """Columns of the island itself (not those of a subquery inside it)."""
    for node in island.walk(prune=lambda n: isinstance(n, exp.Query | exp.Subquery)
                            and n is not island):
        if isinstance(node, exp.Column):
            yield node


def _literals(island: exp.Expr, into_queries: bool) -> list[exp.Expr]:
    """The island's literals and, compared with it, those its subqueries select."""
    found: list[exp.Expr] = []  # collected first: replacing nodes while walking them
    for node in island.walk(prune=lambda n: isinstance(n, exp.Query | exp.Subquery)
                            and n is not island):
        if isinstance(node, _VALUES):
            found.append(node)
        elif into_queries and isinstance(node, exp.Query | exp.Subquery) and node is not island:
            query = node.this if isinstance(node, exp.Subquery) else node
            for select in query.selects if isinstance(query, exp.Query) else []:
                found.extend(select.find_all(*_VALUES))
    return found


def _projection(scope: Scope, name: str) -> exp.Expr | None:
    expression = scope.expression
    selects = expression.selects if isinstance(expression, exp.Query) else []
    wanted = name.lower()
    for select in selects:
        if select.alias_or_name.lower() == wanted:
            return select
    return None


def _literal_only(projection: exp.Expr) -> bool:
    return not any(True for _ in projection.find_all(exp.Column, exp.Star))


def _spliced(text: str, spans: list[tuple[int, int, str]]) -> str:
    """``text`` with each (start, end, replacement) applied, end exclusive."""
    if not spans:
        return text
    out: list[str] = []
    cursor = 0
    for start, end, replacement in sorted(set(spans)):
        if start < cursor:
            continue  # nested in a span already replaced
        out += [text[cursor:start], replacement]
        cursor = end
    return "".join(out) + text[cursor:]


def _token_redacted(text: str) -> str:
    """SQL that does not parse: every string and every long number, found by sqlglot's
    tokenizer, is replaced (nothing can say which column they are compared with)."""
    try:
        tokens = sqlglot.Dialect.get_or_raise("duckdb").tokenize(text)
    except Exception:  # noqa: BLE001 - not even tokens (an unterminated string): keep nothing
        return UNREADABLE
    spans: list[tuple[int, int, str]] = []
    for token in tokens:
        if token.token_type in (TokenType.STRING, TokenType.NATIONAL_STRING,
                                TokenType.RAW_STRING, TokenType.BYTE_STRING,
                                TokenType.HEX_STRING, TokenType.BIT_STRING):
            spans.append((token.start, token.end + 1, f"'{REDACTED}'"))
        elif token.token_type == TokenType.NUMBER and sum(
                ch.isdigit() for ch in token.text) >= _LONG_NUMBER:
            spans.append((token.start, token.end + 1, f"'{REDACTED}'"))
        elif token.token_type in (TokenType.IDENTIFIER, TokenType.VAR):
            masked = mask_values(token.text)
            if masked != token.text:
                spans.append((token.start, token.end + 1, f'"{masked}"'))
    return _spliced(text, spans)


def _scrub_extract(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    """An extraction's summary: its notes and last failure are messages too."""
    if summary is None:
        return None
    cleaned = dict(summary)
    for key in ("notes",):
        if isinstance(cleaned.get(key), list):
            cleaned[key] = [scrub_message(str(n)) for n in cleaned[key]]
    for key in ("last_failure",):
        if isinstance(cleaned.get(key), str):
            cleaned[key] = scrub_message(cleaned[key])
    return cleaned
