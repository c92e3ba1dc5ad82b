"""The audit records of ``nl2sql themes``, ``nl2sql search`` and the shell's ``\\search``:
one per run, like an extraction's (the guarded selection that read the text, the role, the
embedding model, counts) — and one for a refused plan (a ``--where`` the guard refused, a
column the role may not read)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from nl2sql.errors import Interrupted, NL2SQLError
from nl2sql.settings import Settings


def audited_text_run(settings: Settings, command: str, question: str,
                      work: Callable[[], Any], texts: Any = None) -> Any:
    """Run ``work`` and append its audit record: planning (``texts`` None) is recorded
    only when it fails (a refused ``--where``, a column the role may not read); the run
    always, with the guarded selection that read the text and the outcome's summary."""
    import time

    from nl2sql.governance import audit

    audit.prepare(settings.audit_log)
    started = time.perf_counter()
    error: NL2SQLError | None = None
    outcome: Any = None
    try:
        outcome = work()
        return outcome
    except (NL2SQLError, KeyboardInterrupt) as exc:
        error = exc if isinstance(exc, NL2SQLError) else Interrupted("interrupted")
        if texts is None:
            audit.record_failure(settings.audit_log, question, error, is_sql=False,
                                 user=audit.current_user(), role=settings.role,
                                 database=Path(settings.db).stem, command=command,
                                 drafter=None)
        raise
    finally:
        if texts is not None:
            summary = text_summary(outcome, texts)
            audit.append(settings.audit_log, audit.extract_record(
                summary, user=audit.current_user(), role=texts.role,
                database=texts.source.alias, source_kind=texts.source.kind, sql=texts.sql,
                tables=[texts.table], columns=texts.read,
                elapsed_ms=(time.perf_counter() - started) * 1000, error=error,
                catalog=texts.catalog, command=command, question=question))


def planned_then_run(settings: Settings, command: str, question: str, plan: Callable[[], Any],
                     run: Callable[[Any], Any], texts_of: Callable[[Any], Any]) -> Any:
    """The two audited steps of ``themes`` and ``search``: ``plan`` (which texts, under the
    role's policy; recorded only if it fails), then ``run`` with what it planned, recorded
    with the selection ``texts_of(planned)`` that read the text."""
    planned = audited_text_run(settings, command, question, plan)
    return audited_text_run(settings, command, question, lambda: run(planned),
                            texts_of(planned))


def search_question(request: Any) -> str:
    """How a search is written in the audit log (and the history): its query, column and
    condition."""
    where = f" where {request.where}" if request.where else ""
    return f"search {request.query!r} in {request.source}{where}"


def text_summary(outcome: Any, texts: Any) -> dict[str, Any]:
    """What the audit keeps of a themes or search run: counts, model, tables written;
    never a text nor a key (a key may be personal: the log says how many rows and the best
    score)."""
    summary: dict[str, Any] = {"source": texts.origin, "selected": len(texts.rows)}
    if outcome is None:
        return summary
    document = outcome.to_json()
    summary["model"] = document["embedding"]["model"]
    summary["embedding"] = document["embedding"]
    summary["notes"] = document["notes"]
    if "themes" in document:
        summary |= {"k": document["k"], "table": document["themes_table"],
                    "members_table": document["members_table"], "written": document["grouped"]}
    else:
        scores = [m["score"] for m in document["matches"]]
        summary |= {"written": len(scores), "searched": document["searched"],
                    "index": document["index"], "best_score": max(scores, default=None)}
    return summary

