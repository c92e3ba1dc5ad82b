"""Stage 5b — the offline drafter: everyday questions to SQL with no model, key or network.

Deterministic and schema-generic: everything it knows about a database comes
from the catalog, the semantic layer and a built-in bilingual glossary. When
it cannot account for every word of a question it declines, saying what it
understood and what it did not.

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
from nl2sql.drafting.offline.compose import compose
from nl2sql.drafting.offline.parse import understand
from nl2sql.errors import DrafterDeclined
from nl2sql.values import Draft

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


def draft(question: str, catalog: Catalog, conversation: list[Turn] | None = None) -> Draft:
    """SQL and its plain-language interpretation, or :class:`DrafterDeclined`."""
    started = time.perf_counter()
    try:
        intent = understand(question, catalog, index_for(catalog))
        sql = compose(intent, catalog)
    except DrafterDeclined as exc:
        hint = _hint(catalog)
        exc.message = f"{exc.message}. {hint}"
        exc.args = (exc.message,)
        raise
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    return Draft(sql=sql, drafter=NAME, interpretation=intent.explain(), elapsed_ms=elapsed)


def _hint(catalog: Catalog) -> str:
    where = catalog.semantic_files[0] if catalog.semantic_files else f"schemas/{catalog.name}.yaml"
    return f"Try --drafter model, or add the missing words to {where}"
