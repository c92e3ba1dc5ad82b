"""Wording both renderers share, so the Markdown and the HTML page say the same things."""

from __future__ import annotations

from nl2sql.governance.datadict.builder import MIN_SHOWN_COUNT
from nl2sql.governance.datadict.model import ColumnEntry, Reference, Referrer, RoleView

NOTICE = ("Values of columns holding personal data, or masked or denied for any role, are "
          f"never shown; nor are values seen fewer than {MIN_SHOWN_COUNT} times.")


def count_text(n: int | None) -> str:
    return "unknown" if n is None else f"{n:,}"


def percent_text(share: float) -> str:
    text = f"{share * 100:.1f}".removesuffix(".0")
    return f"{text}%"


def profile_text(column: ColumnEntry) -> str:
    """One line about a column's profile: counts, range, frequent values (or why not)."""
    profile = column.profile
    if profile is None:
        return ""
    about = "" if profile.distinct_exact else "≈"  # an estimate (a big table)
    parts = [f"{about}{count_text(profile.distinct)} distinct",
             f"{percent_text(profile.null_share)} null"]
    if column.withheld:
        return " · ".join([*parts, column.withheld])
    if profile.min is not None or profile.max is not None:
        parts.append(f"{profile.min} … {profile.max}")
    if profile.top_values:
        parts.append("top: " + ", ".join(f"{v} ({count_text(n)})" for v, n in profile.top_values))
    if profile.rare_values_left_out:
        parts.append(f"{profile.rare_values_left_out} values seen under {MIN_SHOWN_COUNT} "
                     "times not shown")
    return " · ".join(parts)


def reference_text(fk: Reference) -> str:
    """``customer_id → customers.customer_id``."""
    return f"{', '.join(fk.columns)} → {fk.table}.{', '.join(fk.ref_columns)}"


def referrer_text(fk: Referrer) -> str:
    """``orders.customer_id → customer_id`` (a foreign key seen from the table it points to)."""
    return f"{fk.table}.{', '.join(fk.columns)} → {', '.join(fk.ref_columns)}"


def role_heading(role: RoleView) -> str:
    return f"{role.name} (default)" if role.default else role.name


def pii_text(column: ColumnEntry) -> str:
    parts = [f"pii: {column.pii}"] if column.pii else []
    if column.pii_mentions:
        parts.append("mentions: " + ", ".join(column.pii_mentions))
    return "; ".join(parts)


def aliases_text(values: dict[str, list[str]]) -> str:
    return "; ".join(f"{stored}: {', '.join(aliases)}" for stored, aliases in values.items())
