"""Stage 5b — the offline drafter: everyday questions to SQL with no model, key or network.

Deterministic and schema-generic: everything it knows about a database comes
from the catalog, the semantic layer and a built-in bilingual glossary. When
it cannot account for every word of a question it declines, saying what it
understood and what it did not. When a question has two readings and nothing in it
says which (:mod:`.readings`) it declines too, offering both; ``reading=N`` answers with
the N-th. Every draft carries its confidence and what it assumed.

    >>> from nl2sql.catalog import Catalog, Column, Table
    >>> customers = Table("customers", [Column("customer_id", "INTEGER", primary_key=True),
    ...                                 Column("city", "VARCHAR")], primary_key=["customer_id"])
    >>> catalog = Catalog(name="shop", tables={"customers": customers})
    >>> draft("How many customers are in each city?", catalog).sql
    'SELECT customers.city AS city, COUNT(*) AS count FROM customers GROUP BY 1 ORDER BY 2 DESC, 1'
    >>> draft("How many customers are unicorns?", catalog)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nl2sql.errors.DrafterDeclined: I understood “count of customers” but not “unicorn”. Try ...
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from nl2sql.catalog import Catalog
from nl2sql.drafting.offline import index as idx
from nl2sql.drafting.offline import readings
from nl2sql.errors import ConfigError, DrafterDeclined
from nl2sql.values import Draft, confidence_of

if TYPE_CHECKING:
    from nl2sql.drafting.prompt import Turn

NAME = "offline"
_INDEXES: dict[int, tuple[Catalog, idx.Index]] = {}


def index_for(catalog: Catalog) -> idx.Index:
    """The phrase index of ``catalog``, built once per catalog object."""
    cached = _INDEXES.get(id(catalog))
    if cached is None or cached[0] is not catalog:
        cached = (catalog, idx.build(catalog))
        _INDEXES[id(catalog)] = cached
    return cached[1]


def draft(question: str, catalog: Catalog, conversation: list[Turn] | None = None,
          reading: int | None = None) -> Draft:
    """SQL and its plain-language interpretation, or :class:`DrafterDeclined` (with the
    question's ``readings`` when it has several). ``reading``: the N-th of those (from 1),
    as a person chose it; a question with one reading has only reading 1."""
    started = time.perf_counter()
    try:
        found = readings.read(question, catalog, index_for(catalog))
    except DrafterDeclined as exc:
        # a decline that names its own way out (``suggestion``) is not about missing words
        _explained(exc, "" if exc.details.get("suggestion") else _hint(catalog))
        raise
    if reading is not None:
        if not 1 <= reading <= len(found):
            raise ConfigError(f"there is no reading {reading}: the question has "
                              f"{len(found)} reading{'s' if len(found) != 1 else ''}")
        chosen = found[reading - 1]
    elif len(found) > 1:
        ambiguous = readings.declined(found)
        _explained(ambiguous, "or pick one (nl2sql ask --reading N; its number in the shell)",
                   sep=", ")
        raise ambiguous
    else:
        chosen = found[0]
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    return Draft(sql=chosen.sql, drafter=NAME, interpretation=chosen.intent.explain(),
                 elapsed_ms=elapsed, confidence=confidence_of(chosen.assumptions),
                 assumptions=list(chosen.assumptions))


def _explained(exc: DrafterDeclined, hint: str, sep: str = ". ") -> None:
    """Add the way forward to the message, and the details every offline decline has:
    ``understood`` (may be empty), ``unknown`` and ``unknown_words`` (the same list)."""
    exc.message = f"{exc.message}{sep}{hint}" if hint else exc.message
    exc.args = (exc.message,)
    unknown = list(exc.details.get("unknown", []))
    exc.details.setdefault("understood", "")
    exc.details.setdefault("unknown", unknown)
    exc.details.setdefault("unknown_words", unknown)


def _hint(catalog: Catalog) -> str:
    where = catalog.semantic_files[0] if catalog.semantic_files else f"schemas/{catalog.name}.yaml"
    return f"Try --drafter model, or add the missing words to {where}"
