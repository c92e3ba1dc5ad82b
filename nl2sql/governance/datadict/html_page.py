"""The dictionary as one self-contained HTML page: inline CSS, no scripts, no external
resources, every text escaped, UTF-8; readable on screen and in print."""

from __future__ import annotations

import html

from nl2sql.governance.datadict.model import (
    ColumnEntry,
    Document,
    RoleView,
    TableEntry,
)
from nl2sql.governance.datadict.wording import (
    NOTICE,
    count_text,
    profile_text,
    reference_text,
    referrer_text,
    role_heading,
)

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


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _badge(label: str, kind: str) -> str:
    return f'<span class="badge b-{_e(kind)}">{_e(label)}</span>'


def _access_badge(label: str) -> str:
    return _badge(label, label.split(" ")[0])


def to_html(doc: Document) -> str:
    """The whole page."""
    body = [_header(doc), _roles(doc), _toc(doc)]
    body += [_table(t, doc.roles) for t in doc.tables]
    body.append(_terms(doc))
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>Data dictionary: {_e(doc.database.name)}</title>\n<style>{_CSS}</style>\n"
            "</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")


def _header(doc: Document) -> str:
    db, summary = doc.database, doc.summary
    files = ", ".join(f"<code>{_e(f)}</code>" for f in db.semantic_files) or "none"
    rows = [("source", f"<code>{_e(db.source)}</code> ({_e(db.dialect)})"),
            ("semantic layer", files), ("generated", _e(db.generated_at)),
            ("contents", f"{summary.tables} tables, {summary.columns} columns, "
                         f"{summary.personal_data_columns} with personal data")]
    meta = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    description = f"<p>{_e(db.description)}</p>" if db.description else ""
    notes = "".join(f"<p class=\"notice\"><strong>Note:</strong> {_e(n)}</p>\n" for n in db.notes)
    return (f"<header>\n<h1>Data dictionary: {_e(db.name)}</h1>\n{description}\n"
            f"<table class=\"meta\">{meta}</table>\n"
            f"<p class=\"notice\">{_e(NOTICE)}</p>\n{notes}</header>")


def _roles(doc: Document) -> str:
    rows = []
    for role in doc.roles:
        default = (_badge("default", "default") + f' <span class="small">'
                   f'{_e(role.default_reason)}</span>') if role.default else ""
        users = ", ".join(_e(u) for u in role.users) or '<span class="muted">anyone</span>'
        rows.append(f'<tr data-role-row="{_e(role.name)}"><td><strong>{_e(role.name)}'
                    f'</strong></td><td>{_e(role.description or "")}</td><td>{default}</td>'
                    f"<td>{users}</td></tr>")
    return ('<section id="roles">\n<h2>Roles</h2>\n<table><thead><tr><th>role</th>'
            "<th>description</th><th>default</th><th>users</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>\n</section>")


def _toc(doc: Document) -> str:
    items = []
    for t in doc.tables:
        about = f' — <span class="muted">{_e(t.description)}</span>' if t.description else ""
        items.append(f'<li><a href="#{_e(t.anchor)}">{_e(t.name)}</a> '
                     f'<span class="small">{_e(t.kind)}, {count_text(t.row_count)} rows</span>'
                     f"{about}</li>")
    return ('<nav class="toc">\n<h2>Tables</h2>\n<ol>' + "".join(items)
            + '</ol>\n<p><a href="#terms">Business terms</a></p>\n</nav>')


def _table(table: TableEntry, roles: list[RoleView]) -> str:
    facts = [f"<li><strong>kind:</strong> {_e(table.kind)} · <strong>rows:</strong> "
             f"{count_text(table.row_count)}</li>",
             "<li><strong>primary key:</strong> "
             + (", ".join(f"<code>{_e(c)}</code>" for c in table.primary_key) or "none")
             + "</li>"]
    if table.references:
        facts.append("<li><strong>references:</strong> "
                     + "; ".join(_e(reference_text(fk)) for fk in table.references) + "</li>")
    if table.referenced_by:
        facts.append("<li><strong>referenced by:</strong> "
                     + "; ".join(_e(referrer_text(fk)) for fk in table.referenced_by)
                     + "</li>")
    if table.synonyms:
        facts.append(f"<li><strong>synonyms:</strong> {_e(', '.join(table.synonyms))}</li>")
    facts.append("<li><strong>access:</strong> " + _table_access(table, roles) + "</li>")
    description = f"<p>{_e(table.description)}</p>" if table.description else ""
    heads = ["column", "type", "key", "description", "profile", "personal data", "base policy"]
    head = "".join(f"<th>{h}</th>" for h in heads) + "".join(
        f'<th data-role="{_e(r.name)}">{_e(role_heading(r))}</th>' for r in roles)
    rows = "\n".join(_column(table, c, roles) for c in table.columns)
    return (f'<section class="table" id="{_e(table.anchor)}" data-table="{_e(table.name)}">\n'
            f"<h2>{_e(table.name)}</h2>\n{description}\n<ul class=\"facts\">{''.join(facts)}</ul>\n"
            f"<table class=\"columns\"><thead><tr>{head}</tr></thead><tbody>\n{rows}\n"
            "</tbody></table>\n</section>")


def _table_access(table: TableEntry, roles: list[RoleView]) -> str:
    base = table.policy.base
    parts = ["base " + _access_badge(base.access) + _filter(base.row_filter)]
    for role in roles:
        entry = table.policy.roles[role.name]
        parts.append(f'<span data-role="{_e(role.name)}">{_e(role.name)} '
                     + _access_badge(entry.access) + _filter(entry.row_filter)
                     + "</span>")
    return " · ".join(parts)


def _filter(condition: str | None) -> str:
    return f" rows where <code>{_e(condition)}</code>" if condition else ""


def _column(table: TableEntry, column: ColumnEntry, roles: list[RoleView]) -> str:
    key = "".join(_badge(part, "key") for part in (column.key or "").split(", ") if part)
    notnull = "" if column.nullable else '<br><span class="small">not null</span>'
    about = [_e(column.description or "")]
    if column.synonyms:
        about.append(f'<div class="small">synonyms: {_e(", ".join(column.synonyms))}</div>')
    if column.values:
        aliases = " · ".join(f"<code>{_e(k)}</code> {_e(', '.join(v))}"
                             for k, v in column.values.items())
        about.append(f'<div class="small">value aliases: {aliases}</div>')
    pii = ([_badge(f"PII: {column.pii}", "pii")] if column.pii else []) + [
        _badge(f"mentions {kind}", "pii") for kind in column.pii_mentions]
    cells = [f"<td><code>{_e(column.name)}</code></td>",
             f"<td><code>{_e(column.type)}</code>{notnull}</td>", f"<td>{key}</td>",
             f"<td>{''.join(about)}</td>", f'<td class="small">{_e(profile_text(column))}</td>',
             f"<td>{''.join(pii)}</td>",
             f'<td data-role="base">{_access_badge(column.policy.base)}</td>']
    cells += [f'<td data-role="{_e(r.name)}">'
              f'{_access_badge(column.policy.roles[r.name])}</td>' for r in roles]
    ref = f"{table.name}.{column.name}"
    return f'<tr data-column="{_e(ref)}">' + "".join(cells) + "</tr>"


def _terms(doc: Document) -> str:
    if doc.terms:
        rows = "".join(f"<tr><td><strong>{_e(t.name)}</strong></td><td><code>{_e(t.sql)}"
                       f"</code></td><td>{_e(', '.join(t.synonyms))}</td>"
                       f"<td>{_e(t.description or '')}</td></tr>" for t in doc.terms)
        terms = ("<table><thead><tr><th>term</th><th>SQL</th><th>synonyms</th>"
                 f"<th>description</th></tr></thead><tbody>{rows}</tbody></table>")
    else:
        terms = '<p class="muted">None defined.</p>'
    return (f'<section id="terms">\n<h2>Business terms</h2>\n{terms}\n'
            f"<p>Verified examples (question → SQL pairs): {doc.examples.count}.</p>\n</section>")
