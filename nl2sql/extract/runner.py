"""Plan and run an extraction: skip what is done, reuse the cache, ask the model for the
rest — concurrently, within a token budget, committing every finished row.

Planning (synchronous): resolve the spec and the source rows (guarded selection), open
the workspace, and sort every row into *already done* (same text, spec, prompt and
model, in the table), *empty*, *detectors only* (no model field, or no model
configured), *from the cache*, or *to ask*. Everything but *to ask* is written at once.

Running (asyncio): ``concurrency`` workers share one :class:`ExtractClient`. Each worker
takes the next row, reserves its estimated tokens against ``--budget-tokens`` (no
reservation → no more requests: the run stops cleanly), asks, validates, re-asks once if
invalid, and waits until the writer (a thread, so the event loop keeps serving the
other requests meanwhile) has committed the row — together with whatever else finished —
before it takes the next one. Killing the process therefore loses at most the rows in
flight; the next run skips the committed ones. Ctrl-C cancels the workers, commits what
finished and ends with :class:`~nl2sql.errors.Interrupted`.

Why one file of ~600 lines: planning and running share the row states, the budget and the
writer's commit protocol, and the guarantees above (at most the rows in flight lost, a
budget never overrun, Ctrl-C keeping what finished) are read and checked together.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from nl2sql.catalog import Catalog
from nl2sql.errors import ConfigError, Interrupted, ModelError
from nl2sql.extract import detectors, prompt, reply, selection
from nl2sql.extract import spec as spec_module
from nl2sql.extract.client import ExtractClient, RequestFailed
from nl2sql.extract.workspace import DONE, INTERNAL_PREFIX, CacheEntry, Row, Target, Workspace
from nl2sql.settings import Settings

WRITE_CHUNK = 500  # rows per transaction when nothing is asked (cache hits, detectors)
FAILURE_STREAK = 10  # this many failed rows in a row (at least 2 × concurrency) stop the run


@dataclass(frozen=True)
class Request:
    """What ``nl2sql extract`` was asked to do."""

    source: str  # TABLE.COLUMN
    spec: str  # a path, or the name of a spec in schemas/extract/
    key: str | None = None
    into: str | None = None
    where: str | None = None
    limit: int | None = None
    concurrency: int = 8
    budget_tokens: int | None = None
    sample: int | None = None
    retry_invalid: bool = False
    replace: bool = False
    send_personal_data: bool = False  # False: personal values are replaced before sending


@dataclass
class Progress:
    done: int
    total: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    elapsed_s: float


@dataclass
class Summary:
    """What a run did (``--format json`` prints :meth:`to_json`)."""

    table: str
    workspace: str
    source: str
    key: str
    spec: str
    spec_hash: str
    prompt_hash: str
    model: str
    selected: int = 0
    already_done: int = 0
    to_write: int = 0
    written: int = 0
    status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("ok", "partial", "invalid", "failed", "empty", "skipped"), 0))
    from_cache: int = 0
    asked_model: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    structured_output: bool | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    elapsed_s: float = 0.0
    stopped: str | None = None
    notes: list[str] = field(default_factory=list)
    last_failure: str | None = None

    @property
    def rows_per_s(self) -> float:
        return round(self.written / self.elapsed_s, 2) if self.elapsed_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table, "workspace": self.workspace, "source": self.source,
            "key": self.key, "spec": self.spec, "spec_hash": self.spec_hash,
            "prompt_hash": self.prompt_hash, "model": self.model, "selected": self.selected,
            "already_done": self.already_done, "written": self.written,
            "status": dict(self.status), "from_cache": self.from_cache,
            "asked_model": self.asked_model, "requests": self.requests, "retries": self.retries,
            "rate_limited": self.rate_limited, "structured_output": self.structured_output,
            "tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens},
            "cost_usd": self.cost_usd, "elapsed_s": round(self.elapsed_s, 3),
            "rows_per_s": self.rows_per_s, "stopped": self.stopped, "notes": list(self.notes),
        }


@dataclass
class SampleRow:
    key: Any
    text: str | None
    status: str
    values: dict[str, Any]
    reason: str | None


@dataclass
class Outcome:
    """The run's summary, and for ``--sample`` the rows to show."""

    summary: Summary
    sample: list[SampleRow] | None = None
    fields: list[str] = field(default_factory=list)
    projected_tokens: int | None = None
    projected_cost_usd: float | None = None
    projected_rows: int = 0


# --------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------


@dataclass
class Job:
    """Everything a run needs, resolved and checked."""

    settings: Settings
    request: Request
    spec: spec_module.Spec
    target: Target
    rows: list[tuple[Any, str | None]]
    model: str  # the model asked, or "detectors"
    asks: bool  # the model is asked (some field needs it and one is configured)
    workspace: Workspace
    # for the audit log: the guarded selection that read the text, and under which role
    selection_sql: str = ""
    read: list[str] = field(default_factory=list)  # "table.column"
    role: str | None = None
    catalog: Catalog | None = None  # the source's, to redact the audit record against


def prepare(settings: Settings, request: Request) -> Job:
    """Resolve spec, names and rows; open the workspace. Raises before any cost."""
    from nl2sql import pipeline
    from nl2sql.extract.workspace import path_for
    from nl2sql.governance.pii_default import ScannerDefaults

    spec, _ = spec_module.load(request.spec, settings.schemas_dir / "extract")
    table, column = selection.split_from(request.source)
    # the database's own, protected by the scanner's defaults where no policy covers it
    source, catalog = pipeline.load_catalog(settings, defaults=ScannerDefaults(settings))
    table, column, key = selection.resolve_names(catalog, table, column, request.key)
    into = _check_into(request.into or spec.name, catalog, spec, key)
    access = pipeline.role_policy(catalog, settings)
    sql = selection.build_query(table, column, key, request.where, request.limit)
    query = selection.guarded(sql, catalog, request.limit, access)
    chosen = selection.read_rows(source, query, settings)
    has_model = bool(settings.api_key or settings.base_url)
    asks = bool(spec.asked) and has_model
    if spec.asked and not has_model and not spec.detected:
        raise ConfigError(f"every field of spec {spec.name} needs the model "
                          f"({', '.join(spec.asked)}): set OPENAI_API_KEY (or OPENAI_BASE_URL "
                          "for a local server)")
    source_table = catalog.table(table)
    key_column = source_table.column(key) if source_table is not None else None
    key_pii = key_column.tags.get("pii") if key_column is not None else None
    target = Target(table=into, source=source, source_table=table, source_column=column,
                    key_column=key, key_type=chosen.key_type, spec=spec,
                    spec_hash=spec_module.spec_hash(spec), prompt_hash=prompt.prompt_hash(
                        spec, redact_pii=not request.send_personal_data),
                    key_pii=str(key_pii) if key_pii else None)
    workspace = Workspace(path_for(settings, source), source)
    return Job(settings, request, spec, target, chosen.rows,
               settings.model if asks else "detectors", asks, workspace,
               selection_sql=query.sql, read=list(query.columns), role=access.role,
               catalog=catalog)


def _check_into(into: str, catalog: Any, spec: spec_module.Spec, key: str) -> str:
    if not spec_module.NAME.fullmatch(into) or into.startswith(INTERNAL_PREFIX):
        raise ConfigError(f"--into {into!r} is not a valid table name: lower-case letters, "
                          "digits and _, starting with a letter")
    if catalog.table(into) is not None:
        raise ConfigError(f"--into {into}: the source database has a table of that name; "
                          "choose another (the source is never written)")
    if key in spec.fields or key in spec_module.PROVENANCE:
        raise ConfigError(f"the key column {key} clashes with a field of spec {spec.name}")
    return into


def spread(rows: list[Any], n: int) -> list[Any]:
    """``n`` rows evenly spread over ``rows`` (in order), for a representative sample.

    >>> spread(list(range(10)), 3)
    [0, 3, 6]
    """
    if n >= len(rows):
        return list(rows)
    step = len(rows) / n
    return [rows[int(i * step)] for i in range(n)]


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------


def run(job: Job, on_progress: Callable[[Progress], None] | None = None,
        client: ExtractClient | None = None) -> Outcome:
    """Run the job (``job.request.sample``: only a sample, into the cache)."""
    try:
        return _Run(job, on_progress, client).go()
    finally:
        job.workspace.close()


class _Run:
    def __init__(self, job: Job, on_progress: Callable[[Progress], None] | None,
                 client: ExtractClient | None) -> None:
        self.job = job
        self.on_progress = on_progress
        self.client = client
        self.started = time.perf_counter()
        t = job.target
        self.summary = Summary(
            table=t.table, workspace=str(job.workspace.path),
            source=f"{t.source_table}.{t.source_column}", key=t.key_column, spec=job.spec.name,
            spec_hash=t.spec_hash, prompt_hash=t.prompt_hash, model=job.model,
            selected=len(job.rows))
        self.sample_rows: list[SampleRow] | None = [] if job.request.sample else None
        self.texts: dict[Any, str | None] = {}
        # text hash -> the other rows with that text, answered with the first one's answer
        self.followers: dict[str | None, list[tuple[Any, dict[str, Any]]]] = {}
        self.budget = Budget(job.request.budget_tokens)
        self.answer_reserve = prompt.estimate_tokens(_typical_answer(job.spec))
        self.schema_tokens = prompt.estimate_tokens(prompt.schema_text(job.spec))

    # -- plan ---------------------------------------------------------------------------

    def go(self) -> Outcome:
        job, summary = self.job, self.summary
        rows = spread(job.rows, job.request.sample) if job.request.sample else job.rows
        if job.request.sample:
            summary.selected = len(rows)
        else:
            job.workspace.prepare(job.target, job.model, job.request.replace)
        ready, ask = self._plan(rows)
        summary.to_write = len(ready) + len(ask) + sum(map(len, self.followers.values()))
        if job.spec.asked and not job.asks:
            summary.notes.append(f"{', '.join(job.spec.asked)} need the model: set "
                                 "OPENAI_API_KEY (or OPENAI_BASE_URL) and run again; they are "
                                 "NULL for now (status 'partial')")
        for start in range(0, len(ready), WRITE_CHUNK):
            self._write(ready[start:start + WRITE_CHUNK])
        if ask:
            summary.structured_output = True
            asyncio.run(self._ask_all(ask))
        return self._finish()

    def _plan(self, rows: list[tuple[Any, str | None]],
              ) -> tuple[list[Row], list[tuple[Any, str, str | None, dict[str, Any]]]]:
        """Rows to write at once (done without the model), and rows to ask about."""
        job = self.job
        done = {} if job.request.sample else job.workspace.done(job.target)
        cache = job.workspace.cached(job.target.spec_hash, job.target.prompt_hash, job.model) \
            if job.asks else {}
        now = _utcnow()
        ready: list[Row] = []
        ask: list[tuple[Any, str, str | None, dict[str, Any]]] = []
        for key, text in rows:
            self.texts[key] = text
            th = prompt.text_hash(text) if text is not None else None
            if self._already(done.get(key), th):
                self.summary.already_done += 1
            elif text is None or not text.strip():
                ready.append(Row(key, th, {}, job.model, "empty", None, now))
            elif len(text) > prompt.MAX_TEXT_CHARS:
                ready.append(Row(key, th, {}, job.model, "skipped",
                                 f"the text is {len(text):,} characters; the limit is "
                                 f"{prompt.MAX_TEXT_CHARS:,}", now))
            elif not job.spec.asked:
                ready.append(Row(key, th, detectors.detect(job.spec, text), job.model, "ok",
                                 None, now))
            elif not job.asks:
                ready.append(Row(key, th, detectors.detect(job.spec, text), job.model,
                                 "partial", f"{', '.join(job.spec.asked)} need OPENAI_API_KEY",
                                 now))
            elif th in cache and not (job.request.retry_invalid and cache[th].status == "invalid"):
                ready.append(self._from_cache(key, th, detectors.detect(job.spec, text),
                                              cache[th]))
            elif th in self.followers:  # the same text again in this run: asked once
                self.followers[th].append((key, detectors.detect(job.spec, text)))
            else:
                self.followers[th] = []
                ask.append((key, text, th, detectors.detect(job.spec, text)))
        return ready, ask

    def _finish(self) -> Outcome:
        summary, job = self.summary, self.job
        summary.elapsed_s = time.perf_counter() - self.started
        summary.cost_usd = self._cost(summary.prompt_tokens, summary.completion_tokens)
        if summary.stopped == "interrupted":
            raise Interrupted(f"stopped: {summary.written:,} of {summary.to_write:,} rows saved "
                              f"in {job.target.table}; run the same command again to continue")
        if summary.stopped == "budget":
            left = summary.to_write - summary.written
            summary.notes.append(f"stopped at the token budget ({job.request.budget_tokens:,}): "
                                 f"{left:,} rows left; run again with a larger --budget-tokens "
                                 "to continue")
        return self._outcome()

    def _already(self, previous: tuple[Any, ...] | None, th: str | None) -> bool:
        if previous is None:
            return False
        t = self.job.target
        if self.job.request.retry_invalid and previous[4] == "invalid":
            return False
        return previous[:4] == (th, t.spec_hash, t.prompt_hash, self.job.model) \
            and previous[4] in DONE

    def _from_cache(self, key: Any, th: str, found: dict[str, Any], entry: CacheEntry) -> Row:
        self.summary.from_cache += 1
        values = dict(found)
        if entry.answer is not None:
            checked, _ = reply.check_values(entry.answer, self._validator())
            values.update(checked or {})
        return Row(key, th, values, self.job.model, entry.status, entry.reason, entry.created_at)

    def _validator(self) -> Any:
        if not hasattr(self, "_model_cls"):
            self._model_cls = spec_module.validator(self.job.spec)
        return self._model_cls

    # -- write --------------------------------------------------------------------------

    def _write(self, rows: list[Row]) -> None:
        if not rows:
            return
        if self.sample_rows is not None:
            self.job.workspace.remember(self.job.target, rows)
            self.sample_rows += [SampleRow(r.key, self.texts.get(r.key), r.status, r.values,
                                           r.reason) for r in rows]
        else:
            self.job.workspace.write(self.job.target, rows)
        s = self.summary
        s.written += len(rows)
        for r in rows:
            s.status[r.status] = s.status.get(r.status, 0) + 1
            if r.status == "failed":
                s.last_failure = r.reason
        if self.on_progress is not None:
            self.on_progress(Progress(s.written, s.to_write, s.prompt_tokens, s.completion_tokens,
                                      self._cost(s.prompt_tokens, s.completion_tokens),
                                      time.perf_counter() - self.started))

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        s = self.job.settings
        if not (s.price_input or s.price_output):
            return None
        return round((prompt_tokens * s.price_input + completion_tokens * s.price_output) / 1e6, 6)

    # -- ask ----------------------------------------------------------------------------

    async def _ask_all(self, todo: list[tuple[Any, str, str | None, dict[str, Any]]]) -> None:
        s, settings = self.job.settings, self.job.settings
        client = self.client or ExtractClient(
            api_key=s.api_key or "not-needed", model=s.model, base_url=s.base_url,
            timeout=settings.model_timeout, retries=settings.model_retries)
        writer = _Writer(self._write)
        writer_task = asyncio.create_task(writer.run())
        items = iter(todo)
        self.streak = 0
        workers = [asyncio.create_task(self._worker(client, items, writer))
                   for _ in range(min(self.job.request.concurrency, len(todo)))]
        try:
            await asyncio.gather(*workers)
        except asyncio.CancelledError:
            self.summary.stopped = "interrupted"
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            writer_task.cancel()
            await asyncio.gather(writer_task, return_exceptions=True)
            writer.flush()
            counters = client.counters
            self.summary.requests += counters.requests
            self.summary.retries += counters.retries
            self.summary.rate_limited += counters.rate_limited
            self.summary.structured_output = client.structured
            if self.client is None:
                await client.close()

    async def _worker(self, client: ExtractClient, items: Iterator[Any], writer: _Writer) -> None:
        limit = max(FAILURE_STREAK, 2 * self.job.request.concurrency)
        for key, text, th, found in items:
            if self.summary.stopped:
                return
            row = await self._ask(client, key, text, th, found)
            if row is None:
                self.summary.stopped = "budget"
                return
            twins = [Row(other, th, {**row.values, **other_found}, row.model, row.status,
                         row.reason, row.extracted_at)
                     for other, other_found in self.followers.get(th, [])]
            self.summary.from_cache += len(twins)
            await writer.commit([row, *twins])
            self.streak = self.streak + 1 if row.status == "failed" else 0
            if self.streak >= limit:
                raise ModelError(f"{self.streak} rows in a row failed; the last: {row.reason}")

    async def _ask(self, client: ExtractClient, key: Any, text: str, th: str | None,
                   found: dict[str, Any]) -> Row | None:
        """One row: ask, validate, re-ask once if invalid. None: the budget is spent."""
        spec, model_cls = self.job.spec, self._validator()
        redact = not self.job.request.send_personal_data

        def base(structured: bool) -> list[dict[str, str]]:
            return prompt.messages(spec, text, structured, redact)

        spent = [0, 0]
        try:
            answer = await self._request(client, base, spent)
            if answer is None:
                return None
            values, reason = self._judge(answer)
            if reason is not None:
                first = answer

                def again(structured: bool) -> list[dict[str, str]]:
                    return prompt.reask(prompt.messages(spec, text, structured, redact),
                                        first.content,
                                        reason or "")

                second = await self._request(client, again, spent)
                if second is None:  # the row is left for the next run
                    return None
                values, reason = self._judge(second)
        except RequestFailed as exc:
            self.summary.asked_model += 1
            return Row(key, th, found, self.job.model, "failed", exc.message, _utcnow())
        self.summary.asked_model += 1
        status = "ok" if reason is None else "invalid"
        now = _utcnow()
        answer_json = model_cls.model_validate(values).model_dump(mode="json") if values else None
        entry = CacheEntry(status, reason, answer_json, spent[0], spent[1], now)
        return Row(key, th, {**found, **(values or {})}, self.job.model, status, reason, now,
                   cache=entry)

    def _judge(self, answer: Any) -> tuple[dict[str, Any] | None, str | None]:
        if answer.refusal:
            return None, f"the model refused: {' '.join(answer.refusal.split())[:200]}"
        return reply.check(answer.content, self._validator())

    async def _request(self, client: ExtractClient, build: Callable[[bool], list[dict[str, str]]],
                       spent: list[int]) -> Any:
        """Reserve the estimated tokens, ask, account what was used; None: over budget."""
        estimate = prompt.chat_tokens(build(client.structured),
                                      schema_tokens=self.schema_tokens if client.structured else 0)
        reserve = estimate + self.answer_reserve
        if not self.budget.reserve(reserve):
            return None
        try:
            answer = await client.complete(build, self.job.spec)
        finally:
            self.budget.release(reserve)
        used_prompt = answer.prompt_tokens if answer.prompt_tokens is not None else \
            prompt.chat_tokens(answer.chat,
                               schema_tokens=self.schema_tokens if answer.structured else 0)
        used_completion = answer.completion_tokens if answer.completion_tokens is not None \
            else prompt.estimate_tokens(answer.content)
        self.budget.spend(used_prompt + used_completion)
        self.answer_reserve = max(self.answer_reserve, used_completion)
        spent[0] += used_prompt
        spent[1] += used_completion
        self.summary.prompt_tokens += used_prompt
        self.summary.completion_tokens += used_completion
        return answer

    # -- result -------------------------------------------------------------------------

    def _outcome(self) -> Outcome:
        if self.sample_rows is not None:  # in key order, not in the order answers came
            order = {key: i for i, key in enumerate(self.texts)}
            self.sample_rows.sort(key=lambda r: order[r.key])
        outcome = Outcome(self.summary, self.sample_rows, list(self.job.spec.fields))
        if self.sample_rows is not None:
            asked = self.summary.asked_model
            outcome.projected_rows = len(self.job.rows)
            if asked and self.job.asks:
                per_row_prompt = self.summary.prompt_tokens / asked
                per_row_completion = self.summary.completion_tokens / asked
                rows = len(self.job.rows)
                outcome.projected_tokens = round((per_row_prompt + per_row_completion) * rows)
                outcome.projected_cost_usd = self._cost(round(per_row_prompt * rows),
                                                        round(per_row_completion * rows))
        return outcome


class Budget:
    """Tokens spent plus tokens reserved by requests in flight never exceed the budget."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.spent = 0
        self.reserved = 0

    def reserve(self, tokens: int) -> bool:
        if self.limit is not None and self.spent + self.reserved + tokens > self.limit:
            return False
        self.reserved += tokens
        return True

    def release(self, tokens: int) -> None:
        self.reserved -= tokens

    def spend(self, tokens: int) -> None:
        self.spent += tokens


class _Writer:
    """Commits finished rows in a thread of its own, so the event loop keeps talking to the
    model while DuckDB writes; whatever finished during one commit goes in the next.

    A worker awaits its row's commit before it takes the next row: at any moment each
    worker holds at most one row that is not on disk, so killing the process loses at
    most ``concurrency`` rows — the rows in flight.
    """

    def __init__(self, write: Callable[[list[Row]], None]) -> None:
        self._write = write
        self._lock = threading.Lock()  # one DuckDB connection: one write at a time
        self._buffer: list[tuple[Row, asyncio.Future[None] | None]] = []
        self._wake = asyncio.Event()

    async def commit(self, rows: list[Row]) -> None:
        """Queue ``rows`` and return once they are committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer += [(row, None) for row in rows[:-1]] + [(rows[-1], done)]
        self._wake.set()
        await done

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._buffer = self._buffer, []
            try:
                await asyncio.to_thread(self._locked_write, [row for row, _ in batch])
            except Exception as exc:  # noqa: BLE001 - handed to the workers waiting on it
                for _, waiter in batch:
                    if waiter is not None and not waiter.done():
                        waiter.set_exception(exc)
                continue
            for _, waiter in batch:
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)

    def _locked_write(self, rows: list[Row]) -> None:
        with self._lock:
            self._write(rows)

    def flush(self) -> None:
        """Commit what is left (after the workers stopped); waits for a write under way."""
        batch, self._buffer = self._buffer, []
        self._locked_write([row for row, _ in batch])


def _typical_answer(spec: spec_module.Spec) -> str:
    """A plausible answer's text, to reserve completion tokens before a reply says."""
    import json

    sample: dict[str, Any] = {}
    for name, f in spec.asked.items():
        sample[name] = {"string": "x" * 120, "integer": 12345, "number": 12.345,
                        "boolean": False, "date": "2024-01-01",
                        "enum": max(f.label_names or [""], key=len),
                        "list": f.label_names[:4] or ["x" * 20] * 3}[f.type]
    return json.dumps(sample, ensure_ascii=False)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
