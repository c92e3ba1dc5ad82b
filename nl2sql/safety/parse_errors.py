"""What text that does not parse is: a syntax error in a query, or a refusal.

Nothing unparsable ever runs (the guard regenerates what runs from the parsed tree), so
this decides only how the failure is reported: :class:`InvalidSQL` (an input error, with
where parsing stopped) or :class:`UnsafeSQL`. Used by the guard, by
:func:`nl2sql.safety.dialects.to_duckdb` and by extract's ``--where``.
"""

from __future__ import annotations

import difflib

import sqlglot
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from nl2sql.errors import InvalidSQL, UnsafeSQL, first_line
from nl2sql.safety.guard_rules import QUERY_WORDS, STATEMENT_TOKENS, STATEMENT_WORDS


def first_word(sql: str) -> str:
    """The statement's first keyword, from sqlglot's tokenizer (for messages)."""
    try:
        tokens = sqlglot.tokenize(sql, read="duckdb")
    except (TokenError, ValueError, AttributeError):
        return ""
    if not tokens or not tokens[0].text.isalpha() or tokens[0].token_type == TokenType.STRING:
        return ""
    words = [tokens[0].text.upper()]
    plain = (TokenType.IDENTIFIER, TokenType.STRING, TokenType.NUMBER, TokenType.L_PAREN,
             TokenType.SEMICOLON)
    if len(tokens) > 1 and tokens[1].token_type not in plain and tokens[1].text.isalpha():
        words.append(tokens[1].text.upper())  # CREATE SECRET, FORCE CHECKPOINT, START TRANSACTION
    return " ".join(words)



def parse_failure(sql: str, exc: ParseError | TokenError, dialect: str = "duckdb",
                  label: str = "the SQL does not parse", condition: bool = False,
                  ) -> UnsafeSQL:
    """What text that sqlglot cannot parse is: a refusal where it is unsafe on its face,
    else a plain syntax error (:class:`InvalidSQL`, an input error) saying where it stopped.

    Nothing unparsable ever runs (what runs is regenerated from the parsed tree), so this
    only decides how the failure is reported. It fails closed: only text that is plainly
    an attempt at a query (it starts with a query word, or a typo of one such as
    ``SELEC``) and holds nothing suspicious is called a syntax error. Refused (exit 3):
    text that does not even tokenize (an unterminated string, comment or quoted name:
    where statement smuggling hides), a second statement after a ``;``, a statement
    keyword that writes or changes settings anywhere in the text (``SELECT 1 UNION ALL
    DROP TABLE t``), look-alike characters (a full-width ``；``), and a first word that is
    not a query (``INSERT INTO``, cut short). ``label`` starts the messages;
    ``condition``: ``sql`` is a condition (``--where``), not a statement, so its first word
    is a name rather than a query word.
    """
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except (TokenError, ValueError, AttributeError):
        return UnsafeSQL(f"{label}: {first_line(exc)}", rule="parse")
    if not tokens:
        return UnsafeSQL("the query is empty", rule="empty")
    ends = [i for i, token in enumerate(tokens) if token.token_type == TokenType.SEMICOLON]
    if any(tokens[i + 1:] and tokens[i + 1].token_type != TokenType.SEMICOLON for i in ends):
        return UnsafeSQL("only one statement may run; this text has more than one",
                         rule="single_statement")
    if tokens[0].token_type in STATEMENT_TOKENS and not condition:
        return UnsafeSQL(f"only read-only queries may run: {first_word(sql)} is not a query",
                         rule="read_only")
    statement = next((t for t in tokens if t.token_type in STATEMENT_TOKENS), None)
    if statement is not None:
        return UnsafeSQL(f"only read-only queries may run: {statement.text.upper()} is not "
                         "part of a query", rule="read_only")
    lookalike = next((c for t in tokens if t.token_type == TokenType.VAR for c in t.text
                      if _lookalike(c)), None)
    if lookalike is not None:
        return UnsafeSQL(f"the query contains {lookalike!r} (U+{ord(lookalike):04X}), which "
                         "looks like SQL but is not; type it plainly", rule="parse")
    first = tokens[0]
    if condition or first.text.upper() in QUERY_WORDS or _typo_of_query_word(first):
        return _syntax_error(exc, None if condition else first, label)
    word = first_word(sql) or first.text
    return UnsafeSQL(f"only read-only queries may run: {word} is not a query", rule="read_only")


def _lookalike(char: str) -> bool:
    """A character outside ASCII that is punctuation, or a compatibility form of another
    (full-width ``ＳＥＬＥＣＴ``): names in any script are fine, disguised SQL is not."""
    import unicodedata

    if char.isascii():
        return False
    return unicodedata.category(char)[0] not in "LNM" or unicodedata.normalize("NFKC", char) != char


def _typo_of_query_word(first: Token) -> str | None:
    """``SELEC`` → ``SELECT``: the query word an unknown first word was meant to be."""
    if first.token_type != TokenType.VAR:
        return None
    close = difflib.get_close_matches(first.text.upper(), sorted(STATEMENT_WORDS), n=1,
                                      cutoff=0.7)
    return close[0] if close else None


def _syntax_error(exc: ParseError | TokenError, first: Token | None, label: str) -> InvalidSQL:
    """One line: where parsing stopped, near which word, and why when sqlglot says it plainly."""
    where = exc.errors[0] if isinstance(exc, ParseError) and exc.errors else {}
    line, column = where.get("line"), where.get("col")
    message = label
    if line is not None and column is not None:
        message += f": syntax error at line {line}, column {column}"
        near = str(where.get("highlight") or "").strip()
        if near:
            message += f", near {near[:40]!r}"
    why = str(where.get("description") or "")
    if why.startswith("Required keyword"):  # sqlglot names its own classes here
        message += " (an expression is incomplete)"
    elif why:
        message += f" ({why})"
    meant = _typo_of_query_word(first) if first is not None else None
    if meant is not None and first is not None:
        message += f"; did you mean {meant} instead of {first.text}?"
    return InvalidSQL(message, line=line, column=column)
