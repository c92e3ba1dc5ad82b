"""Governance listings as columns and rows for the one emitter: the audit log
(``nl2sql audit``, ``\\audit``), personal-data findings (``nl2sql scan-pii``, ``\\pii``)
and the evaluation report (``nl2sql eval``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nl2sql.interfaces.output import Column, Fit, Listing, Output, people_text

if TYPE_CHECKING:
    from nl2sql.governance.audit import AuditRecord


def _moment(value: Any) -> str:
    """``2026-01-01T09:30:00.123+00:00`` as people read it: ``2026-01-01 09:30:00Z``."""
    text = str(value or "")
    return text[:19].replace("T", " ") + "Z" if len(text) >= 19 else text


def _percent(value: Any) -> str:
    return "" if value is None else f"{float(value):.1%}"


AUDIT_COLUMNS = {
    "time": Column("time", "TIMESTAMP", Fit.KEEP, show=_moment),
    "user": Column("user", "VARCHAR", Fit.SHRINK),
    "role": Column("role", "VARCHAR", Fit.KEEP),
    "command": Column("command", "VARCHAR", Fit.KEEP),
    "decision": Column("decision", "VARCHAR", Fit.KEEP),
    "query": Column("query", "VARCHAR", Fit.FREE),
    # hidden on a narrow console before the query is cut to nothing (elapsed_ms first)
    "rows": Column("rows", "BIGINT", Fit.KEEP, drop=1),
    "masked": Column("masked", "VARCHAR", Fit.SHRINK, drop=2),
    "elapsed_ms": Column("elapsed_ms", "DOUBLE", Fit.KEEP, drop=3),
}


def audit_output(records: list[AuditRecord]) -> Output:
    """The audit records: the JSON document is the records themselves (one array)."""
    from rich.text import Text

    from nl2sql.governance import audit

    listing = Listing([AUDIT_COLUMNS[name] for name in audit.LIST_COLUMNS],
                      [audit.list_row(audit.shown(r)) for r in records], title="audit log",
                      null="")
    return Output(listing, [audit.shown(r).to_json() for r in records],
                  foot=[Text(f"{len(records)} records", style="dim")])


PII_COLUMNS = {
    "table": Column("table", "VARCHAR", Fit.SHRINK),
    "column": Column("column", "VARCHAR", Fit.SHRINK),
    "kinds": Column("kinds", "VARCHAR", Fit.SHRINK),
    "share": Column("share", "DOUBLE", Fit.KEEP, show=_percent),
    "confidence": Column("confidence", "VARCHAR", Fit.KEEP),
    "evidence": Column("evidence", "VARCHAR", Fit.KEEP, drop=1),  # before names are cut
    "examples": Column("examples", "VARCHAR", Fit.FREE),
}


def pii_listing(findings: list[Any]) -> Listing:
    from nl2sql.governance import pii

    return Listing([PII_COLUMNS[name] for name in pii.REPORT_COLUMNS],
                   pii.findings_rows(findings), title="personal data", null="")


def pii_output(findings: list[Any], written: Any = None) -> Output:
    """The findings; the JSON document adds what ``--write`` did."""
    from rich.text import Text

    document = {"columns": [f.to_json() for f in findings]}
    if written is not None:
        document |= written.to_json()
    return Output(pii_listing(findings), document,
                  foot=[Text(f"{len(findings)} columns with personal data", style="dim")])


EVAL_COLUMNS = [Column("group", "VARCHAR", Fit.SHRINK), Column("n", "BIGINT", Fit.KEEP)] + [
    Column(name, "DOUBLE", Fit.KEEP, show=_percent)
    for name in ("accuracy", "answered", "wrong", "declined")]


def eval_output(report: Any, show: str) -> Output:
    """The evaluation summary per group, and the questions ``show`` asks for (none,
    failed or all) below the table."""
    from rich.text import Text

    summary = report.summary()
    groups = [("overall", summary["overall"])]
    groups += [(f"lang {k}", v) for k, v in summary["by_lang"].items()]
    groups += [(k, v) for k, v in summary["by_category"].items()]
    rows = [[name, s["n"], s["accuracy"], s["answered"], s["wrong"], s["declined"]]
            for name, s in groups]
    document = dict(summary)
    document["questions"] = [
        {"id": o.case.id, "question": o.case.question, "verdict": o.verdict,
         "latency_ms": round(o.latency_ms, 2), "sql": o.sql, "message": o.message}
        for o in report.outcomes]
    lat = summary["latency_ms"]
    latency = Column("latency", "DOUBLE")
    foot: list[Any] = [Text(f"latency per question: p50 {people_text(lat['p50'], latency)} ms"
                            f" · p95 {people_text(lat['p95'], latency)} ms", style="dim")]
    for o in report.outcomes:
        if show == "all" or (show == "failed" and o.verdict not in ("correct", "declined_ok")):
            foot.append(Text(f"[{o.verdict}] {o.case.id} {o.case.question}"))
            if o.sql:
                foot.append(Text(f"    sql: {o.sql}", style="dim"))
    return Output(Listing(EVAL_COLUMNS, rows, title="evaluation"), document, foot=foot)
