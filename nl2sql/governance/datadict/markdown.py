"""The dictionary as one Markdown document (GitHub flavour: tables, anchors)."""

from __future__ import annotations

from nl2sql.governance.datadict.model import Document, RoleView, TableAccess, TableEntry
from nl2sql.governance.datadict.wording import (
    NOTICE,
    aliases_text,
    count_text,
    pii_text,
    profile_text,
    reference_text,
    referrer_text,
    role_heading,
)

_MD_SPECIAL = "\\`*_[]<>|"


def escape(text: object) -> str:
    """Text for a Markdown table cell or paragraph: specials escaped (so ``<script>`` stays
    text in renderers that allow HTML), one line, and no heading or list by accident.

    >>> escape("# a|b <x>")
    '\\\\# a\\\\|b \\\\<x\\\\>'
    """
    out = "".join(f"\\{ch}" if ch in _MD_SPECIAL else ch for ch in str(text))
    out = " ".join(out.split())
    return f"\\{out}" if out[:1] in ("#", ">", "-", "+", "=") else out


def code(text: object) -> str:
    """A code span that survives backticks and pipes inside (the latter only matter in tables)."""
    body = " ".join(str(text).split()).replace("|", "\\|")
    fence = "``" if "`" in body else "`"
    return f"{fence} {body} {fence}" if fence == "``" else f"`{body}`"


def to_markdown(doc: Document) -> str:
    """The whole document."""
    lines = _header(doc)
    lines += _roles(doc)
    lines += ["## Tables", ""]
    lines += [f"- [{escape(t.name)}](#{t.anchor}) — {t.kind}, {count_text(t.row_count)} rows"
              + (f" — {escape(t.description)}" if t.description else "") for t in doc.tables]
    lines.append("")
    for table in doc.tables:
        lines += _table(table, doc.roles)
    lines += _terms(doc)
    return "\n".join(lines).rstrip() + "\n"


def _header(doc: Document) -> list[str]:
    db, summary = doc.database, doc.summary
    lines = [f"# Data dictionary: {escape(db.name)}", ""]
    if db.description:
        lines += [escape(db.description), ""]
    files = ", ".join(code(f) for f in db.semantic_files) or "none"
    lines += ["| | |", "|---|---|",
              f"| source | {code(db.source)} ({escape(db.dialect)}) |",
              f"| semantic layer | {files} |",
              f"| generated | {escape(db.generated_at)} |",
              f"| contents | {summary.tables} tables, {summary.columns} columns, "
              f"{summary.personal_data_columns} with personal data |", "",
              escape(NOTICE), ""]
    lines += [line for note in db.notes for line in (f"**Note:** {escape(note)}", "")]
    return lines


def _roles(doc: Document) -> list[str]:
    lines = ["## Roles", "", "| role | description | default | users |", "|---|---|---|---|"]
    for role in doc.roles:
        default = f"yes ({escape(role.default_reason)})" if role.default else ""
        users = ", ".join(escape(u) for u in role.users) or "anyone"
        lines.append(f"| {escape(role.name)} | {escape(role.description or '')} | {default} "
                     f"| {users} |")
    return [*lines, ""]


def _table(table: TableEntry, roles: list[RoleView]) -> list[str]:
    lines = [f'<a id="{table.anchor}"></a>', "", f"## {escape(table.name)}", ""]
    if table.description:
        lines += [escape(table.description), ""]
    facts = [f"**kind:** {table.kind}", f"**rows:** {count_text(table.row_count)}",
             "**primary key:** " + (", ".join(code(c) for c in table.primary_key) or "none")]
    if table.references:
        facts.append("**references:** "
                     + "; ".join(escape(reference_text(fk)) for fk in table.references))
    if table.referenced_by:
        facts.append("**referenced by:** "
                     + "; ".join(escape(referrer_text(fk)) for fk in table.referenced_by))
    if table.synonyms:
        facts.append("**synonyms:** " + ", ".join(escape(s) for s in table.synonyms))
    facts.append("**access:** " + _table_access(table, roles))
    lines += [f"- {fact}" for fact in facts] + [""]
    heads = ["column", "type", "nullable", "key", "description", "synonyms", "value aliases",
             "profile", "personal data", "base policy"] + [role_heading(r) for r in roles]
    lines += ["| " + " | ".join(escape(h) for h in heads) + " |", "|" + "---|" * len(heads)]
    for column in table.columns:
        cells = [code(column.name), code(column.type), "yes" if column.nullable else "no",
                 escape(column.key or ""), escape(column.description or ""),
                 escape(", ".join(column.synonyms)), escape(aliases_text(column.values)),
                 escape(profile_text(column)), escape(pii_text(column)), column.policy.base]
        cells += [column.policy.roles[r.name] for r in roles]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _table_access(table: TableEntry, roles: list[RoleView]) -> str:
    """``base: visible; analyst: visible, rows where `…`; steward: denied``."""
    def entry(name: str, access: TableAccess) -> str:
        where = f", rows where {code(access.row_filter)}" if access.row_filter else ""
        return f"{escape(name)}: {access.access}{where}"

    parts = [entry("base", table.policy.base)]
    parts += [entry(r.name, table.policy.roles[r.name]) for r in roles]
    return "; ".join(parts)


def _terms(doc: Document) -> list[str]:
    lines = ["## Business terms", ""]
    if doc.terms:
        lines += ["| term | SQL | synonyms | description |", "|---|---|---|---|"]
        lines += [f"| {escape(t.name)} | {code(t.sql)} | {escape(', '.join(t.synonyms))} | "
                  f"{escape(t.description or '')} |" for t in doc.terms]
    else:
        lines.append("None defined.")
    lines += ["", f"Verified examples (question → SQL pairs): {doc.examples.count}.", ""]
    return lines
