"""What the drafters see: the catalog without what a role is denied, masked columns marked."""

from __future__ import annotations

import copy
import dataclasses

from nl2sql.catalog import Catalog, Table
from nl2sql.safety.policy.roles import AccessPolicy


def visible(catalog: Catalog, policy: AccessPolicy) -> Catalog:
    """``catalog`` without what ``policy`` denies, and with masked columns' values withheld.

    The drafters work from this, so neither the model nor the offline drafter proposes
    a column the guard would then refuse.
    """
    if not policy.restricts:
        return catalog
    shown = copy.copy(catalog)
    shown.tables = {}
    for name, table in catalog.tables.items():
        if name in policy.denied_tables:
            continue
        shown.tables[name] = _visible_table(table, policy)
    return shown


def _visible_table(table: Table, policy: AccessPolicy) -> Table:
    kept = copy.copy(table)
    kept.columns = []
    for column in table.columns:
        ref = f"{table.name}.{column.name}"
        if ref in policy.denied_columns:
            continue
        if ref in policy.masks or ref in policy.redactions:
            column = copy.copy(column)
            if ref in policy.masks:
                column.tags = {**column.tags, "pii": column.tags.get("pii") or "masked"}
            # The role sees this column masked (or its text redacted): no real value of it
            # on any channel (the prompt, `nl2sql schema`, completion words), so none stays
            # in its profile. A masked column's value aliases name stored values too; a
            # redacted one's are labels a person wrote for prose (an extracted label field).
            if ref in policy.masks:
                column.values = {}
            if column.profile is not None:
                column.profile = dataclasses.replace(column.profile, min=None, max=None,
                                                     top_values=[], labels=[])
        kept.columns.append(column)
    kept.foreign_keys = [fk for fk in table.foreign_keys
                         if not any(f"{table.name}.{c}" in policy.denied_columns
                                    for c in fk.columns)]
    return kept
