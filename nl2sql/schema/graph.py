"""The foreign-key graph of a catalog: which tables join, along which path, in which direction.

Tables are nodes; a foreign key is an undirected edge for finding paths, and a
directed one for telling many-to-one hops (the holder of the key to the table it
references: rows are not repeated) from one-to-many hops (rows may repeat).
Context selection and the offline drafter both walk this graph.

A school: ``enrollment`` is the bridge between ``student`` and ``course``;
``staff`` references itself (its manager) and ``note`` joins nothing.

>>> from nl2sql.catalog import Catalog, Column, ForeignKey, Table
>>> tables = [
...     Table("student", [Column("id", "INTEGER")], primary_key=["id"]),
...     Table("course", [Column("id", "INTEGER")], primary_key=["id"]),
...     Table("enrollment", [Column("student_id", "INTEGER"), Column("course_id", "INTEGER")],
...           foreign_keys=[ForeignKey(["student_id"], "student", ["id"]),
...                         ForeignKey(["course_id"], "Course", ["id"])]),
...     Table("staff", [Column("id", "INTEGER"), Column("manager_id", "INTEGER")],
...           primary_key=["id"], foreign_keys=[ForeignKey(["manager_id"], "staff", ["id"])]),
...     Table("note", [Column("text", "VARCHAR")]),
... ]
>>> school = Catalog(name="school", tables={t.name: t for t in tables})
>>> graph = neighbours(school)
>>> sorted(graph["enrollment"]), sorted(graph["staff"]), sorted(graph["note"])
(['course', 'student'], ['staff'], [])
>>> shortest_path(graph, "student", "course")
['student', 'enrollment', 'course']
>>> shortest_path(graph, "student", "note") is None
True
>>> foreign_key_to(school, "enrollment", "course"), foreign_key_to(school, "course", "enrollment")
('course_id', None)
>>> [key[1] for key in (join_key(school, "enrollment", "student"), join_key(school, "student", "enrollment"))]
[True, False]
>>> join_key(school, "student", "course") is None
True
"""

from __future__ import annotations

from collections import deque

from nl2sql.catalog import Catalog, ForeignKey

Graph = dict[str, set[str]]


def neighbours(catalog: Catalog) -> Graph:
    """Undirected foreign-key graph: table -> tables it joins to directly (a table with a key
    to itself is its own neighbour; keys to tables outside the catalog are left out)."""
    graph: Graph = {name: set() for name in catalog.tables}
    for table in catalog.tables.values():
        for fk in table.foreign_keys:
            ref = catalog.table(fk.ref_table)
            if ref is not None:
                graph[table.name].add(ref.name)
                graph[ref.name].add(table.name)
    return graph


def shortest_path(graph: Graph, start: str, goal: str) -> list[str] | None:
    """Tables from ``start`` to ``goal`` along foreign keys (breadth-first; among equally
    short paths, the one through alphabetically first tables), or None when none joins."""
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        if here == goal:
            path = [here]
            while previous[path[-1]] is not None:
                path.append(previous[path[-1]])  # type: ignore[arg-type]
            return path[::-1]
        for nxt in sorted(graph.get(here, ())):
            if nxt not in previous:
                previous[nxt] = here
                queue.append(nxt)
    return None


def join_key(catalog: Catalog, a: str, b: str) -> tuple[ForeignKey, bool] | None:
    """The foreign key joining tables ``a`` and ``b``, and True when ``a`` holds it (the hop
    from ``a`` to ``b`` is many-to-one); None when no key joins them."""
    for fk in catalog.tables[a].foreign_keys:
        if fk.ref_table.lower() == b.lower():
            return fk, True
    for fk in catalog.tables[b].foreign_keys:
        if fk.ref_table.lower() == a.lower():
            return fk, False
    return None


def holds_once(catalog: Catalog, holder: str, fk: ForeignKey) -> bool:
    """True when no two rows of ``holder`` can share the key ``fk``: its columns are the
    holder's whole primary key (a one-to-one extension, such as a themes run's members,
    one row per source row), so joining from the referenced table repeats nothing.

    >>> from nl2sql.catalog import Catalog, Column, ForeignKey, Table
    >>> key = ForeignKey(["id"], "person", ["id"])
    >>> passport = Table("passport", [Column("id", "INTEGER")], primary_key=["id"],
    ...                  foreign_keys=[key])
    >>> holds_once(Catalog(name="x", tables={"passport": passport}), "passport", key)
    True
    """
    primary = catalog.tables[holder].primary_key
    return bool(primary) and sorted(c.lower() for c in fk.columns) == sorted(
        c.lower() for c in primary)


def repeats_rows(catalog: Catalog, path: list[str]) -> bool | None:
    """True when walking ``path`` from its start can repeat rows of the start table (some
    hop is one-to-many); None when a hop has no foreign key. Asks only the direction of
    each hop: which of two keys joins is decided where a join is written."""
    for a, b in zip(path, path[1:], strict=False):
        key = join_key(catalog, a, b)
        if key is None:
            return None
        if not key[1] and not holds_once(catalog, b, key[0]):
            return True
    return False


def join_keys(catalog: Catalog, a: str, b: str) -> list[tuple[ForeignKey, bool]]:
    """Every foreign key joining ``a`` and ``b`` (``flights`` to ``airports`` by source and
    by destination): more than one means the join itself is a choice."""
    keys = [(fk, True) for fk in catalog.tables[a].foreign_keys
            if fk.ref_table.lower() == b.lower()]
    if a.lower() != b.lower():
        keys += [(fk, False) for fk in catalog.tables[b].foreign_keys
                 if fk.ref_table.lower() == a.lower()]
    return keys


def foreign_key_to(catalog: Catalog, table: str, target: str) -> str | None:
    """The column of ``table`` that references ``target`` (single-column keys only)."""
    for fk in catalog.tables[table].foreign_keys:
        if fk.ref_table.lower() == target.lower() and len(fk.columns) == 1:
            return fk.columns[0]
    return None


def referenced_table(catalog: Catalog, table: str, column: str) -> str | None:
    """The table that ``table.column`` alone references, if it is in the catalog."""
    for fk in catalog.tables[table].foreign_keys:
        ref = catalog.table(fk.ref_table)
        if fk.columns == [column] and ref is not None:
            return ref.name
    return None
