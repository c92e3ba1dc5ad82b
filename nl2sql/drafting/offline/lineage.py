"""Tables made from another table's text answer questions about that table's rows only.

``nl2sql themes --from reviews.review_text`` writes ``reviews_themes`` (one row per
theme) and ``reviews_themes_members`` (one row per review); ``nl2sql extract`` writes
tables keyed the same way. Their foreign keys join them to the rest of the catalog, so a
path exists from ``support_tickets`` to ``reviews_themes`` (tickets → customers →
reviews → members → themes) — but "Which theme has the most tickets?" has no answer
there: tickets were never grouped, and the path counts each ticket under the themes of
whatever its customer happened to review. The drafter declines such a question instead.

The rule: every other table in the query must be reached from the source table without
one source row meeting many of its rows (``reviews`` → ``products`` is fine: each review
has one product; ``reviews`` → ``customers`` → ``support_tickets`` is not).
"""

from __future__ import annotations

from collections.abc import Iterable

from nl2sql.catalog import Catalog, Extraction
from nl2sql.errors import DrafterDeclined
from nl2sql.schema.graph import neighbours, repeats_rows, shortest_path


def check_reach(catalog: Catalog, tables: Iterable[str]) -> None:
    """Decline when ``tables`` (those one query joins or filters on) put a derived table
    beside rows its source does not determine.

    >>> from nl2sql.catalog import Column, ForeignKey, Table
    >>> shop = Catalog(name="shop", tables={t.name: t for t in [
    ...     Table("customers", [Column("id", "INTEGER")], primary_key=["id"]),
    ...     Table("tickets", [Column("id", "INTEGER"), Column("customer_id", "INTEGER")],
    ...           foreign_keys=[ForeignKey(["customer_id"], "customers", ["id"])]),
    ...     Table("reviews", [Column("id", "INTEGER"), Column("customer_id", "INTEGER")],
    ...           primary_key=["id"],
    ...           foreign_keys=[ForeignKey(["customer_id"], "customers", ["id"])]),
    ...     Table("reviews_themes_members", [Column("id", "INTEGER")], primary_key=["id"],
    ...           foreign_keys=[ForeignKey(["id"], "reviews", ["id"])],
    ...           tags={"extracted": {"source_table": "reviews", "source_column": "text",
    ...                               "key": "id", "themes": True}})]})
    >>> check_reach(shop, ["reviews", "reviews_themes_members", "customers"])
    >>> try:
    ...     check_reach(shop, ["tickets", "reviews_themes_members"])
    ... except DrafterDeclined as exc:
    ...     print(str(exc).split(", and ")[1].split(", where")[0])
    tickets reaches them only through reviews → customers → tickets
    """
    used = [name for name in dict.fromkeys(tables) if name in catalog.tables]
    graph = None  # built only when the query holds a derived table (most never do)
    for name in used:
        origin = Extraction.from_tag(catalog.tables[name].tags.get("extracted"))
        source = catalog.table(origin.source_table) if origin else None
        if origin is None or source is None:
            continue
        family = {source.name} | {t.name for t in catalog.tables.values()
                                  if _source_of(t.tags.get("extracted")) == source.name.lower()}
        graph = graph or neighbours(catalog)
        for other in used:
            if other in family:
                continue
            path = shortest_path(graph, source.name, other)
            if path is not None and repeats_rows(catalog, path) is False:
                continue
            themes = bool(catalog.tables[name].tags["extracted"].get("themes"))
            via = "is not joined to them" if path is None \
                else f"reaches them only through {' → '.join(path)}, where one " \
                     f"{source.name} row meets many {other} rows"
            suggestion = f"nl2sql {'themes' if themes else 'extract'} --from {other}.<column>"
            raise DrafterDeclined(
                f"{name} describes {source.name} rows (made from {source.name}."
                f"{origin.source_column}), and {other} {via}: "
                f"{'a theme' if themes else 'a value extracted'} of {other} would be a "
                f"guess. Ask about {source.name}, or "
                f"{'group' if themes else 'extract from'} the text of {other} itself "
                f"({suggestion})", suggestion=suggestion)


def _source_of(tag: object) -> str | None:
    origin = Extraction.from_tag(tag)
    return origin.source_table.lower() if origin else None
