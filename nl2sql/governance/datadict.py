"""The data dictionary (``nl2sql catalog``): every table and column of a database, for people.

:func:`build` turns a :class:`~nl2sql.catalog.Catalog` (introspection plus the semantic
layer) into a plain document model — dicts, lists, strings and numbers with fixed keys,
which is also the ``--format json`` output — and :func:`to_markdown` and :func:`to_html`
render that model. All three are pure: no environment, no clock (the caller passes the
time), no files. :func:`write_file` is the one side effect (``--output``).

The dictionary is meant to be passed around, so it must not become a leak itself. Values
(frequent values, min/max, value aliases) of a column are withheld when the column is
tagged ``pii`` or ``tags.pii_mentions``, is masked or denied by the base policy or by any
role, lies in a table some role may not read, or when the personal-data detector
(:func:`nl2sql.governance.pii.detect`) recognises one of its shown values. Frequent values seen fewer
than :data:`MIN_SHOWN_COUNT` times are left out too: a rare value can single out a person.
Profile ``labels`` (every value of a naming column) are never shown.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from typing import Any

from nl2sql.catalog import Catalog, Column, Table
from nl2sql.errors import ConfigError
from nl2sql.safety import policy

FORMATS = ("markdown", "html", "json")
VERSION = 1
#: Frequent values seen fewer times than this are not shown (they could identify someone).
MIN_SHOWN_COUNT = 5
#: How each mask mode reads in the dictionary.
ACCESS_LABELS = {"none": "visible", "partial": "masked (partial)", "hash": "hashed",
                 "redact": "redacted"}
VISIBLE, DENIED = "visible", "denied"


# --------------------------------------------------------------------------------------
# The document model
# --------------------------------------------------------------------------------------


def build(catalog: Catalog, generated_at: dt.datetime) -> dict[str, Any]:
    """The data dictionary of ``catalog`` as plain, JSON-ready data with stable keys.

    >>> from nl2sql.catalog import Column, Table
    >>> cat = Catalog(name="x", tables={"t": Table("t", [Column("a", "INTEGER")])})
    >>> doc = build(cat, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    >>> doc["tables"][0]["columns"][0]["policy"]["roles"]
    {'default': 'visible'}
    """
    roles = policy.role_names(catalog)
    policies = {name: policy.resolve(catalog, name) for name in roles}
    restricted = _restricted_columns(catalog, policies)
    anchors = _anchors([t.name for t in catalog.tables.values()])
    tables = [_table(catalog, table, anchors[table.name], policies, restricted)
              for table in catalog.tables.values()]
    columns = [c for t in tables for c in t["columns"]]
    return {
        "version": VERSION,
        "database": {
            "name": catalog.name, "description": catalog.description,
            "source": catalog.source, "dialect": catalog.dialect,
            "semantic_files": list(catalog.semantic_files),
            "generated_at": generated_at.isoformat(timespec="seconds"),
        },
        "summary": {
            "tables": len(tables), "columns": len(columns),
            "personal_data_columns": sum(1 for c in columns if c["pii"] or c["pii_mentions"]),
            "withheld_columns": sum(1 for c in columns if c["withheld"]),
        },
        "roles": _roles(catalog, roles),
        "tables": tables,
        "terms": [{"name": t.name, "sql": t.sql, "synonyms": list(t.synonyms),
                   "description": t.description} for t in catalog.terms],
        "examples": {"count": len(catalog.examples)},
    }


def _roles(catalog: Catalog, names: list[str]) -> list[dict[str, Any]]:
    """Every role, with the default marked and why it is the default (the marked one, else
    the most restricted: a person who names no role gets the safe view)."""
    chosen = policy.default_role(catalog)
    marked = any(r.default for r in catalog.roles.values())
    reason = "marked default" if marked else (
        "the most restricted role" if catalog.roles else "no roles defined: the base policy")
    out = []
    for name in names:
        spec = catalog.roles.get(name)
        out.append({"name": name, "description": spec.description if spec else None,
                    "default": name == chosen, "default_reason": reason if name == chosen else None,
                    "users": list(spec.users) if spec else []})
    return out


def _restricted_columns(catalog: Catalog,
                        policies: dict[str, policy.AccessPolicy]) -> set[str]:
    """``table.column``s some role (or the base policy) masks or denies: their values are
    sensitive by the policy's own account, whoever reads the dictionary."""
    refs: set[str] = set()
    for table in catalog.tables.values():
        for column in table.columns:
            if column.tags.get("deny") or str(column.tags.get("mask", "none")) != "none" \
                    or table.tags.get("deny"):
                refs.add(f"{table.name}.{column.name}")
    for access in policies.values():
        refs |= set(access.masks) | set(access.denied_columns)
        for name in access.denied_tables:
            denied = catalog.tables.get(name)
            refs |= {f"{name}.{c.name}" for c in (denied.columns if denied else [])}
    return refs


def _anchors(names: list[str]) -> dict[str, str]:
    """A unique, URL-safe fragment per table (``t-order-items``); Chinese names stay readable."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-") or "table"
        anchor, n = f"t-{slug}", 2
        while anchor in used:
            anchor, n = f"t-{slug}-{n}", n + 1
        used.add(anchor)
        out[name] = anchor
    return out


def _table(catalog: Catalog, table: Table, anchor: str,
           policies: dict[str, policy.AccessPolicy], restricted: set[str]) -> dict[str, Any]:
    return {
        "name": table.name, "anchor": anchor, "kind": table.kind,
        "description": table.about, "row_count": table.row_count,
        "primary_key": list(table.primary_key),
        "references": [{"columns": list(fk.columns), "table": fk.ref_table,
                        "ref_columns": list(fk.ref_columns)} for fk in table.foreign_keys],
        "referenced_by": _referenced_by(catalog, table),
        "synonyms": list(table.synonyms),
        "policy": {
            "base": {"access": DENIED if table.tags.get("deny") else VISIBLE,
                     "row_filter": _text_or_none(table.tags.get("row_filter"))},
            "roles": {name: {"access": DENIED if table.name in p.denied_tables else VISIBLE,
                             "row_filter": p.row_filters.get(table.name)}
                      for name, p in policies.items()},
        },
        "columns": [_column(table, c, policies, restricted) for c in table.columns],
    }


def _referenced_by(catalog: Catalog, table: Table) -> list[dict[str, Any]]:
    """Foreign keys of other tables pointing here (the other direction of ``references``)."""
    found = []
    for other in catalog.tables.values():
        for fk in other.foreign_keys:
            if catalog.table(fk.ref_table) is table:
                found.append({"table": other.name, "columns": list(fk.columns),
                              "ref_columns": list(fk.ref_columns)})
    return found


def _column(table: Table, column: Column, policies: dict[str, policy.AccessPolicy],
            restricted: set[str]) -> dict[str, Any]:
    ref = f"{table.name}.{column.name}"
    references = [f"{fk.ref_table}.{fk.ref_columns[i]}" for fk in table.foreign_keys
                  for i, name in enumerate(fk.columns)
                  if name == column.name and i < len(fk.ref_columns)]
    primary = column.primary_key or column.name in table.primary_key
    withheld = _withheld(column, ref in restricted)
    return {
        "name": column.name, "type": column.type, "nullable": column.nullable,
        "primary_key": primary, "references": references,
        "key": _key_label(primary, references),
        "description": column.about,
        "synonyms": list(column.synonyms),
        "values": {} if withheld else {k: list(v) for k, v in column.values.items()},
        "pii": _pii_kind(column), "pii_mentions": _mentions(column),
        "withheld": withheld,
        "profile": _profile(column, withheld),
        "policy": {"base": _base_access(table, column),
                   "roles": {name: _access(p, table, ref) for name, p in policies.items()}},
    }


def _key_label(primary: bool, references: list[str]) -> str | None:
    parts = (["PK"] if primary else []) + [f"FK → {target}" for target in references]
    return ", ".join(parts) or None


def _pii_kind(column: Column) -> str | None:
    kind = column.tags.get("pii")
    if not kind:
        return None
    return "personal data" if kind is True else str(kind)


def _mentions(column: Column) -> list[str]:
    value = column.tags.get("pii_mentions") or []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _withheld(column: Column, restricted: bool) -> str | None:
    """Why ``column``'s values are not shown, or None when they may be."""
    kind = _pii_kind(column)
    if kind:
        return f"values withheld (personal data: {kind})"
    mentions = _mentions(column)
    if mentions:
        return f"values withheld (mentions personal data: {', '.join(mentions)})"
    if restricted:
        return "values withheld (masked or denied for some roles)"
    found = _detected(column)
    if found:
        return f"values withheld (looks like personal data: {', '.join(found)})"
    return None


def _detected(column: Column) -> list[str]:
    """Personal-data kinds the detector finds among the values the profile would show: a
    safety net for columns nobody tagged yet (names of support agents, say)."""
    from nl2sql.governance.pii import detect

    profile = column.profile
    if profile is None:
        return []
    shown = [v for v, _ in profile.top_values] + [v for v in (profile.min, profile.max) if v]
    shown += list(column.values)
    return sorted({kind for value in shown for kind in detect(str(value), column.name)})


def _profile(column: Column, withheld: str | None) -> dict[str, Any] | None:
    profile = column.profile
    if profile is None:
        return None
    frequent = [] if withheld else [(str(v), int(n)) for v, n in profile.top_values]
    shown = [[value, n] for value, n in frequent if n >= MIN_SHOWN_COUNT]
    return {
        "distinct": profile.distinct, "distinct_exact": profile.distinct_exact,
        "null_share": profile.null_share,
        "min": None if withheld else profile.min, "max": None if withheld else profile.max,
        "top_values": shown, "rare_values_left_out": len(frequent) - len(shown),
    }


def _base_access(table: Table, column: Column) -> str:
    if table.tags.get("deny") or column.tags.get("deny"):
        return DENIED
    return ACCESS_LABELS.get(str(column.tags.get("mask", "none")), VISIBLE)


def _access(access: policy.AccessPolicy, table: Table, ref: str) -> str:
    """What one role sees of one column: visible, masked (partial), hashed, redacted, denied."""
    if table.name in access.denied_tables or ref in access.denied_columns:
        return DENIED
    return ACCESS_LABELS.get(access.masks.get(ref, "none"), VISIBLE)


def _text_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


# --------------------------------------------------------------------------------------
# Shared wording
# --------------------------------------------------------------------------------------


def _count(n: int | None) -> str:
    return "unknown" if n is None else f"{n:,}"


def _percent(share: float) -> str:
    text = f"{share * 100:.1f}".removesuffix(".0")
    return f"{text}%"


def profile_text(column: dict[str, Any]) -> str:
    """One line about a column's profile: counts, range, frequent values (or why not)."""
    profile = column["profile"]
    if profile is None:
        return ""
    about = "" if profile.get("distinct_exact", True) else "≈"  # an estimate (a big table)
    parts = [f"{about}{_count(profile['distinct'])} distinct",
             f"{_percent(profile['null_share'])} null"]
    if column["withheld"]:
        return " · ".join([*parts, column["withheld"]])
    if profile["min"] is not None or profile["max"] is not None:
        parts.append(f"{profile['min']} … {profile['max']}")
    if profile["top_values"]:
        parts.append("top: " + ", ".join(f"{v} ({_count(n)})" for v, n in profile["top_values"]))
    if profile["rare_values_left_out"]:
        parts.append(f"{profile['rare_values_left_out']} values seen under {MIN_SHOWN_COUNT} "
                     "times not shown")
    return " · ".join(parts)


def _fk_text(fk: dict[str, Any], table: str | None = None) -> str:
    """``customer_id → customers.customer_id`` (or, from the other side, with ``table``)."""
    here = ", ".join(fk["columns"])
    there = ", ".join(fk["ref_columns"])
    if table is None:
        return f"{here} → {fk['table']}.{there}"
    return f"{fk['table']}.{here} → {there}"


def _role_heading(role: dict[str, Any]) -> str:
    return f"{role['name']} (default)" if role["default"] else role["name"]


def _pii_text(column: dict[str, Any]) -> str:
    parts = [f"pii: {column['pii']}"] if column["pii"] else []
    if column["pii_mentions"]:
        parts.append("mentions: " + ", ".join(column["pii_mentions"]))
    return "; ".join(parts)


def _aliases_text(values: dict[str, list[str]]) -> str:
    return "; ".join(f"{stored}: {', '.join(aliases)}" for stored, aliases in values.items())


NOTICE = ("Values of columns holding personal data, or masked or denied for any role, are "
          "never shown; nor are values seen fewer than {n} times.")


# --------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------

_MD_SPECIAL = "\\`*_[]<>|"


def _md(text: Any) -> str:
    """Text for a Markdown table cell or paragraph: specials escaped (so ``<script>`` stays
    text in renderers that allow HTML), one line, and no heading or list by accident."""
    out = "".join(f"\\{ch}" if ch in _MD_SPECIAL else ch for ch in str(text))
    out = " ".join(out.split())
    return f"\\{out}" if out[:1] in ("#", ">", "-", "+", "=") else out


def _code(text: Any) -> str:
    """A code span that survives backticks and pipes inside (the latter only matter in tables)."""
    body = " ".join(str(text).split()).replace("|", "\\|")
    fence = "``" if "`" in body else "`"
    return f"{fence} {body} {fence}" if fence == "``" else f"`{body}`"


def to_markdown(doc: dict[str, Any]) -> str:
    """The dictionary as one Markdown document (GitHub flavour: tables, anchors)."""
    lines = _md_header(doc)
    lines += _md_roles(doc)
    lines += ["## Tables", ""]
    lines += [f"- [{_md(t['name'])}](#{t['anchor']}) — {t['kind']}, {_count(t['row_count'])} rows"
              + (f" — {_md(t['description'])}" if t["description"] else "") for t in doc["tables"]]
    lines.append("")
    for table in doc["tables"]:
        lines += _md_table(table, doc["roles"])
    lines += _md_terms(doc)
    return "\n".join(lines).rstrip() + "\n"


def _md_header(doc: dict[str, Any]) -> list[str]:
    db, summary = doc["database"], doc["summary"]
    lines = [f"# Data dictionary: {_md(db['name'])}", ""]
    if db["description"]:
        lines += [_md(db["description"]), ""]
    files = ", ".join(_code(f) for f in db["semantic_files"]) or "none"
    lines += ["| | |", "|---|---|",
              f"| source | {_code(db['source'])} ({_md(db['dialect'])}) |",
              f"| semantic layer | {files} |",
              f"| generated | {_md(db['generated_at'])} |",
              f"| contents | {summary['tables']} tables, {summary['columns']} columns, "
              f"{summary['personal_data_columns']} with personal data |", "",
              _md(NOTICE.format(n=MIN_SHOWN_COUNT)), ""]
    return lines


def _md_roles(doc: dict[str, Any]) -> list[str]:
    lines = ["## Roles", "", "| role | description | default | users |", "|---|---|---|---|"]
    for role in doc["roles"]:
        default = f"yes ({_md(role['default_reason'])})" if role["default"] else ""
        users = ", ".join(_md(u) for u in role["users"]) or "anyone"
        lines.append(f"| {_md(role['name'])} | {_md(role['description'] or '')} | {default} "
                     f"| {users} |")
    return [*lines, ""]


def _md_table(table: dict[str, Any], roles: list[dict[str, Any]]) -> list[str]:
    lines = [f'<a id="{table["anchor"]}"></a>', "", f"## {_md(table['name'])}", ""]
    if table["description"]:
        lines += [_md(table["description"]), ""]
    facts = [f"**kind:** {table['kind']}", f"**rows:** {_count(table['row_count'])}",
             "**primary key:** " + (", ".join(_code(c) for c in table["primary_key"]) or "none")]
    if table["references"]:
        facts.append("**references:** " + "; ".join(_md(_fk_text(fk)) for fk in table["references"]))
    if table["referenced_by"]:
        facts.append("**referenced by:** " + "; ".join(
            _md(_fk_text(fk, fk["table"])) for fk in table["referenced_by"]))
    if table["synonyms"]:
        facts.append("**synonyms:** " + ", ".join(_md(s) for s in table["synonyms"]))
    facts.append("**access:** " + _table_access_md(table, roles))
    lines += [f"- {fact}" for fact in facts] + [""]
    heads = ["column", "type", "nullable", "key", "description", "synonyms", "value aliases",
             "profile", "personal data", "base policy"] + [_role_heading(r) for r in roles]
    lines += ["| " + " | ".join(_md(h) for h in heads) + " |", "|" + "---|" * len(heads)]
    for column in table["columns"]:
        cells = [_code(column["name"]), _code(column["type"]), "yes" if column["nullable"] else "no",
                 _md(column["key"] or ""), _md(column["description"] or ""),
                 _md(", ".join(column["synonyms"])), _md(_aliases_text(column["values"])),
                 _md(profile_text(column)), _md(_pii_text(column)), column["policy"]["base"]]
        cells += [column["policy"]["roles"][r["name"]] for r in roles]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _table_access_md(table: dict[str, Any], roles: list[dict[str, Any]]) -> str:
    """``base: visible; analyst: visible, rows where `…`; steward: denied``."""
    def entry(name: str, access: dict[str, Any]) -> str:
        where = f", rows where {_code(access['row_filter'])}" if access["row_filter"] else ""
        return f"{_md(name)}: {access['access']}{where}"

    parts = [entry("base", table["policy"]["base"])]
    parts += [entry(r["name"], table["policy"]["roles"][r["name"]]) for r in roles]
    return "; ".join(parts)


def _md_terms(doc: dict[str, Any]) -> list[str]:
    lines = ["## Business terms", ""]
    if doc["terms"]:
        lines += ["| term | SQL | synonyms | description |", "|---|---|---|---|"]
        lines += [f"| {_md(t['name'])} | {_code(t['sql'])} | {_md(', '.join(t['synonyms']))} | "
                  f"{_md(t['description'] or '')} |" for t in doc["terms"]]
    else:
        lines.append("None defined.")
    count = doc["examples"]["count"]
    lines += ["", f"Verified examples (question → SQL pairs): {count}.", ""]
    return lines


# --------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------

_CSS = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --head: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1400px; padding: 24px 32px; color: var(--ink);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", "Noto Sans", "PingFang SC",
  "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 20px; margin: 32px 0 6px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
a { color: #0969da; text-decoration: none; } a:hover { text-decoration: underline; }
code { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  background: var(--head); padding: 0 3px; border-radius: 3px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; }
th, td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; }
tr { break-inside: avoid; }
.meta th { width: 160px; } .muted, .small { color: var(--muted); } .small { font-size: 12px; }
.notice { border-left: 4px solid #bf8700; background: #fff8c5; padding: 8px 12px; }
.facts { margin: 6px 0; padding-left: 20px; }
nav.toc ol { columns: 2; padding-left: 22px; }
section.table { border-top: 2px solid var(--line); margin-top: 28px; }
.badge { display: inline-block; padding: 0 7px; margin: 1px 2px 1px 0; border-radius: 10px;
  font-size: 12px; white-space: nowrap; border: 1px solid transparent; }
.b-visible { color: #1a7f37; border-color: #b7e4c1; }
.b-masked, .b-hashed, .b-redacted { background: #fff1c2; color: #7d4e00; }
.b-denied { background: #ffebe9; color: #cf222e; font-weight: 600; }
.b-pii { background: #fbefff; color: #8250df; }
.b-key { background: #ddf4ff; color: #0550ae; }
.b-default { background: #eaeef2; color: var(--ink); }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  a { color: inherit; }
  nav.toc { break-after: page; }
  section.table { break-before: auto; }
  h2, h3 { break-after: avoid; }
  .badge { border-color: currentColor; }
}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _badge(label: str, kind: str) -> str:
    return f'<span class="badge b-{_e(kind)}">{_e(label)}</span>'


def _access_badge(label: str) -> str:
    return _badge(label, label.split(" ")[0])


def to_html(doc: dict[str, Any]) -> str:
    """The dictionary as one self-contained HTML page: inline CSS, no scripts, no external
    resources, every text escaped, UTF-8."""
    db = doc["database"]
    body = [_html_header(doc), _html_roles(doc), _html_toc(doc)]
    body += [_html_table(t, doc["roles"]) for t in doc["tables"]]
    body.append(_html_terms(doc))
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>Data dictionary: {_e(db['name'])}</title>\n<style>{_CSS}</style>\n"
            "</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")


def _html_header(doc: dict[str, Any]) -> str:
    db, summary = doc["database"], doc["summary"]
    files = ", ".join(f"<code>{_e(f)}</code>" for f in db["semantic_files"]) or "none"
    rows = [("source", f"<code>{_e(db['source'])}</code> ({_e(db['dialect'])})"),
            ("semantic layer", files), ("generated", _e(db["generated_at"])),
            ("contents", f"{summary['tables']} tables, {summary['columns']} columns, "
                         f"{summary['personal_data_columns']} with personal data")]
    meta = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    description = f"<p>{_e(db['description'])}</p>" if db["description"] else ""
    return (f"<header>\n<h1>Data dictionary: {_e(db['name'])}</h1>\n{description}\n"
            f"<table class=\"meta\">{meta}</table>\n"
            f"<p class=\"notice\">{_e(NOTICE.format(n=MIN_SHOWN_COUNT))}</p>\n</header>")


def _html_roles(doc: dict[str, Any]) -> str:
    rows = []
    for role in doc["roles"]:
        default = (_badge("default", "default") + f' <span class="small">'
                   f'{_e(role["default_reason"])}</span>') if role["default"] else ""
        users = ", ".join(_e(u) for u in role["users"]) or '<span class="muted">anyone</span>'
        rows.append(f'<tr data-role-row="{_e(role["name"])}"><td><strong>{_e(role["name"])}'
                    f'</strong></td><td>{_e(role["description"] or "")}</td><td>{default}</td>'
                    f"<td>{users}</td></tr>")
    return ('<section id="roles">\n<h2>Roles</h2>\n<table><thead><tr><th>role</th>'
            "<th>description</th><th>default</th><th>users</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>\n</section>")


def _html_toc(doc: dict[str, Any]) -> str:
    items = []
    for t in doc["tables"]:
        about = f' — <span class="muted">{_e(t["description"])}</span>' if t["description"] else ""
        items.append(f'<li><a href="#{_e(t["anchor"])}">{_e(t["name"])}</a> '
                     f'<span class="small">{_e(t["kind"])}, {_count(t["row_count"])} rows</span>'
                     f"{about}</li>")
    return ('<nav class="toc">\n<h2>Tables</h2>\n<ol>' + "".join(items)
            + '</ol>\n<p><a href="#terms">Business terms</a></p>\n</nav>')


def _html_table(table: dict[str, Any], roles: list[dict[str, Any]]) -> str:
    facts = [f"<li><strong>kind:</strong> {_e(table['kind'])} · <strong>rows:</strong> "
             f"{_count(table['row_count'])}</li>",
             "<li><strong>primary key:</strong> "
             + (", ".join(f"<code>{_e(c)}</code>" for c in table["primary_key"]) or "none")
             + "</li>"]
    if table["references"]:
        facts.append("<li><strong>references:</strong> "
                     + "; ".join(_e(_fk_text(fk)) for fk in table["references"]) + "</li>")
    if table["referenced_by"]:
        facts.append("<li><strong>referenced by:</strong> "
                     + "; ".join(_e(_fk_text(fk, fk["table"])) for fk in table["referenced_by"])
                     + "</li>")
    if table["synonyms"]:
        facts.append(f"<li><strong>synonyms:</strong> {_e(', '.join(table['synonyms']))}</li>")
    facts.append("<li><strong>access:</strong> " + _html_table_access(table, roles) + "</li>")
    description = f"<p>{_e(table['description'])}</p>" if table["description"] else ""
    heads = ["column", "type", "key", "description", "profile", "personal data", "base policy"]
    head = "".join(f"<th>{h}</th>" for h in heads) + "".join(
        f'<th data-role="{_e(r["name"])}">{_e(_role_heading(r))}</th>' for r in roles)
    rows = "\n".join(_html_column(table, c, roles) for c in table["columns"])
    return (f'<section class="table" id="{_e(table["anchor"])}" data-table="{_e(table["name"])}">\n'
            f"<h2>{_e(table['name'])}</h2>\n{description}\n<ul class=\"facts\">{''.join(facts)}</ul>\n"
            f"<table class=\"columns\"><thead><tr>{head}</tr></thead><tbody>\n{rows}\n"
            "</tbody></table>\n</section>")


def _html_table_access(table: dict[str, Any], roles: list[dict[str, Any]]) -> str:
    base = table["policy"]["base"]
    parts = ["base " + _access_badge(base["access"]) + _html_filter(base["row_filter"])]
    for role in roles:
        entry = table["policy"]["roles"][role["name"]]
        parts.append(f'<span data-role="{_e(role["name"])}">{_e(role["name"])} '
                     + _access_badge(entry["access"]) + _html_filter(entry["row_filter"])
                     + "</span>")
    return " · ".join(parts)


def _html_filter(condition: str | None) -> str:
    return f" rows where <code>{_e(condition)}</code>" if condition else ""


def _html_column(table: dict[str, Any], column: dict[str, Any], roles: list[dict[str, Any]]) -> str:
    key = "".join(_badge(part, "key") for part in (column["key"] or "").split(", ") if part)
    notnull = "" if column["nullable"] else '<br><span class="small">not null</span>'
    about = [_e(column["description"] or "")]
    if column["synonyms"]:
        about.append(f'<div class="small">synonyms: {_e(", ".join(column["synonyms"]))}</div>')
    if column["values"]:
        aliases = " · ".join(f"<code>{_e(k)}</code> {_e(', '.join(v))}"
                             for k, v in column["values"].items())
        about.append(f'<div class="small">value aliases: {aliases}</div>')
    pii = ([_badge(f"PII: {column['pii']}", "pii")] if column["pii"] else []) + [
        _badge(f"mentions {kind}", "pii") for kind in column["pii_mentions"]]
    cells = [f"<td><code>{_e(column['name'])}</code></td>",
             f"<td><code>{_e(column['type'])}</code>{notnull}</td>", f"<td>{key}</td>",
             f"<td>{''.join(about)}</td>", f'<td class="small">{_e(profile_text(column))}</td>',
             f"<td>{''.join(pii)}</td>",
             f'<td data-role="base">{_access_badge(column["policy"]["base"])}</td>']
    cells += [f'<td data-role="{_e(r["name"])}">'
              f'{_access_badge(column["policy"]["roles"][r["name"]])}</td>' for r in roles]
    ref = f"{table['name']}.{column['name']}"
    return f'<tr data-column="{_e(ref)}">' + "".join(cells) + "</tr>"


def _html_terms(doc: dict[str, Any]) -> str:
    if doc["terms"]:
        rows = "".join(f"<tr><td><strong>{_e(t['name'])}</strong></td><td><code>{_e(t['sql'])}"
                       f"</code></td><td>{_e(', '.join(t['synonyms']))}</td>"
                       f"<td>{_e(t['description'] or '')}</td></tr>" for t in doc["terms"])
        terms = ("<table><thead><tr><th>term</th><th>SQL</th><th>synonyms</th>"
                 f"<th>description</th></tr></thead><tbody>{rows}</tbody></table>")
    else:
        terms = '<p class="muted">None defined.</p>'
    count = doc["examples"]["count"]
    return (f'<section id="terms">\n<h2>Business terms</h2>\n{terms}\n'
            f"<p>Verified examples (question → SQL pairs): {count}.</p>\n</section>")


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


def render(doc: dict[str, Any], fmt: str) -> str:
    """The document in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "markdown":
        return to_markdown(doc)
    if fmt == "html":
        return to_html(doc)
    if fmt == "json":
        from nl2sql.encoding import to_json

        return to_json(doc) + "\n"
    raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")


def write_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a reader never sees half a dictionary, and a
    failure leaves the old file."""
    from nl2sql.files import write_atomic

    write_atomic(path, text)


