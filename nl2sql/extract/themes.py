"""``nl2sql themes``: group a text column's rows by meaning, name the groups, and write
them where questions can use them.

Stages: select the texts under the role's policy (:mod:`nl2sql.extract.texts`); embed the
ones with no vector yet (:mod:`nl2sql.embeddings.store`, committed in batches: Ctrl-C
keeps them); spherical k-means with k chosen by silhouette (:mod:`.clustering`); name each
theme by the chat model when one is configured, else by its distinctive words
(:mod:`.theme_names`); write the themes and each row's theme to the workspace
(:mod:`.theme_tables`), which questions read.

Text preparation: before embedding, lines that recur in many texts (greetings, sign-offs,
"Is there anything else I can help you with?") are dropped — they carry no topic and, in
a conversation, outweigh the one line that says what it is about. A line is boilerplate
when its *shape* (its words, with digits and the names that differ between otherwise
identical lines removed by keeping only the part before and after the varying word) is
shared by more than :data:`BOILERPLATE_SHARE` of the texts. See docs/themes.md for the
effect on the sample database.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nl2sql.errors import ConfigError
from nl2sql.extract import clustering, texts, theme_names, theme_tables
from nl2sql.settings import Settings

EXAMPLES = 3
EXAMPLE_CHARS = 240
WORD_TEXTS = 3000  # texts per theme read for its words (a seeded sample past this)
BOILERPLATE_SHARE = 0.2
MIN_TEXTS = 2


@dataclass(frozen=True)
class Request:
    """What ``nl2sql themes`` was asked to do."""

    source: str  # TABLE.COLUMN
    key: str | None = None
    k: int | None = None  # None: auto
    where: str | None = None
    into: str | None = None


@dataclass(frozen=True)
class Theme(theme_tables.ThemeRow):
    """A theme as the command reports it: the row written to the workspace, and its JSON."""

    def to_json(self) -> dict[str, Any]:
        return {"theme_id": self.theme_id, "name": self.name, "size": self.size,
                "share": round(self.share, 4), "keywords": list(self.keywords),
                "examples": list(self.examples), "named_by": self.named_by}


@dataclass
class Outcome:
    """What a run found (``--format json`` prints :meth:`to_json`)."""

    source: str
    key: str
    themes: list[Theme]
    k: int
    k_chosen_by: str  # "--k" | "silhouette"
    silhouette: float | None
    tried: list[tuple[int, float]]
    embedding: dict[str, Any]
    themes_table: str
    members_table: str
    workspace: str
    grouped: int
    selected: int
    elapsed_s: float
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "key": self.key, "k": self.k,
                "k_chosen_by": self.k_chosen_by,
                "silhouette": None if self.silhouette is None else round(self.silhouette, 4),
                "tried": [{"k": k, "silhouette": s} for k, s in self.tried],
                "selected": self.selected, "grouped": self.grouped,
                "themes_table": self.themes_table, "members_table": self.members_table,
                "workspace": self.workspace, "embedding": self.embedding,
                "themes": [t.to_json() for t in self.themes],
                "elapsed_s": round(self.elapsed_s, 3), "notes": list(self.notes)}


@dataclass
class Job:
    """A planned run: the texts chosen (guarded) and the request, for the audit log too."""

    settings: Settings
    request: Request
    texts: texts.Texts
    into: str


def prepare(settings: Settings, request: Request) -> Job:
    """Resolve names and select the texts (raises before anything is embedded)."""
    if request.k is not None and not 2 <= request.k <= 100:
        raise ConfigError("--k must be between 2 and 100, or auto")
    chosen = texts.select(settings, request.source, request.key, request.where)
    into = request.into or f"{chosen.table}_themes"
    theme_tables.check_names(into, chosen.catalog)
    return Job(settings, request, chosen, into)


def run(job: Job, on_progress: Callable[[int, int], None] | None = None,
        embedder: Any = None, chat_client: Any = None) -> Outcome:
    """Embed, group, name and write (see the module docstring)."""
    started = time.perf_counter()
    settings, request, chosen = job.settings, job.request, job.texts
    model = embedder if embedder is not None else texts.embedder(settings)
    workspace, store = texts.open_store(settings, chosen, model)
    try:
        raw = [text for _, text in chosen.rows]
        prepared = prepare_texts(raw)
        hashes, report = store.ensure(prepared, on_progress)
        kept, found = group(store, prepared, hashes, request.k, chosen.origin)
        members_texts = [raw[i] or "" for i in kept]
        themes, notes = _themes(found, members_texts, prepared, kept, settings, chat_client)
        written = theme_tables.write(
            workspace, into=job.into, source=chosen.source, table=chosen.table,
            column=chosen.column, key=chosen.key, key_type=chosen.key_type,
            key_pii=chosen.key_pii,
            themes=list(themes),
            members=[(chosen.rows[i][0], int(found.labels[n]), float(found.distances[n]))
                     for n, i in enumerate(kept)],
            embedding_model=model.model_id, where=request.where)
    finally:
        workspace.close()
    return Outcome(
        source=chosen.origin, key=chosen.key, themes=themes, k=found.k,
        k_chosen_by="--k" if request.k is not None else "silhouette",
        silhouette=found.silhouette, tried=list(found.tried), embedding=report.to_json(),
        themes_table=written.themes_table, members_table=written.members_table,
        workspace=written.workspace, grouped=len(kept), selected=len(chosen.rows),
        elapsed_s=time.perf_counter() - started, notes=[*report.notes, *notes])


def group(store: Any, prepared: list[str | None], hashes: list[str | None], k: int | None,
          origin: str) -> tuple[list[int], clustering.Clustering]:
    """The positions of the texts that have a vector, and their themes: duplicates
    ("ok", "delivered") grouped once with their count as weight, each language's mean
    taken out (:func:`clustering.centered`), then k-means (k given, or by silhouette)."""
    kept = [i for i, h in enumerate(hashes) if h is not None]
    if len(kept) < MIN_TEXTS:
        raise ConfigError(f"themes need at least {MIN_TEXTS} non-empty texts; "
                          f"{origin} has {len(kept)} in the selection")
    distinct = list(dict.fromkeys(str(hashes[i]) for i in kept))
    position = {h: n for n, h in enumerate(distinct)}
    of_text = [position[str(hashes[i])] for i in kept]
    if len(distinct) < MIN_TEXTS:
        raise ConfigError(f"themes need at least {MIN_TEXTS} different texts; "
                          f"{origin} has {len(distinct)} in the selection")
    weights = np.bincount(of_text, minlength=len(distinct)).astype(np.float64)
    first_text = {str(hashes[i]): prepared[i] or "" for i in reversed(kept)}
    languages = np.array([script_of(first_text[h]) for h in distinct])
    vectors = clustering.centered(store.matrix(distinct), languages, weights)
    grouped = clustering.choose(vectors, k, weights)
    return kept, clustering.Clustering(
        labels=grouped.labels[of_text], distances=grouped.distances[of_text],
        centroids=grouped.centroids, silhouette=grouped.silhouette, tried=grouped.tried)


def _themes(found: clustering.Clustering, raw: list[str], prepared: list[str | None],
            kept: list[int], settings: Settings, chat_client: Any,
            ) -> tuple[list[Theme], list[str]]:
    """Sizes, examples (nearest the centre, redacted), words and names of each theme."""
    from nl2sql.extract.prompt import redact

    total = len(raw)
    by_theme: list[list[int]] = [[] for _ in range(found.k)]
    for n, label in enumerate(found.labels.tolist()):
        by_theme[label].append(n)
    rng = np.random.default_rng(clustering.SEED)
    word_texts: list[list[str]] = []
    examples: list[list[str]] = []
    for members in by_theme:
        nearest = sorted(members, key=lambda n: (found.distances[n], n))
        shown: list[str] = []
        for n in nearest:  # as prepared: a conversation's greeting says nothing of it
            text = " ".join(redact(prepared[kept[n]] or raw[n]).split())
            if text not in shown:
                shown.append(text)
            if len(shown) == EXAMPLES:
                break
        examples.append([t if len(t) <= EXAMPLE_CHARS else t[:EXAMPLE_CHARS - 1] + "…"
                         for t in shown])
        sample = members if len(members) <= WORD_TEXTS else sorted(
            rng.choice(members, WORD_TEXTS, replace=False).tolist())
        word_texts.append([redact(prepared[kept[n]] or "") for n in sample])
    keywords = theme_names.distinctive(word_texts, settings.cache_dir)
    names: list[str | None] = [None] * found.k
    notes: list[str] = []
    named_by = "words"
    if settings.api_key or settings.base_url:
        names, notes = theme_names.model_names(
            [(keywords[c], [raw[n] for n in sorted(by_theme[c],
                                                  key=lambda n: found.distances[n])[:6]])
             for c in range(found.k)], settings, chat_client)
        named_by = f"model:{settings.model}"
    themes = [Theme(theme_id=c, name=names[c] or theme_names.words_name(keywords[c]),
                    size=len(by_theme[c]), share=len(by_theme[c]) / total,
                    keywords=keywords[c], examples=examples[c],
                    named_by=named_by if names[c] else "words")
              for c in range(found.k)]
    return themes, notes


# --------------------------------------------------------------------------------------
# text preparation
# --------------------------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9０-９]+")
_SPEAKER = re.compile(r"^\s*([^:：]{1,20})[:：]\s*")


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def script_of(text: str) -> str:
    """``zh`` for a text that is at least a fifth Chinese characters, else ``other``:
    the groups whose own mean is taken out before grouping (:func:`clustering.centered`).

    >>> script_of("物流太慢了"), script_of("much too slow, 慢"), script_of("too slow")
    ('zh', 'other', 'other')
    """
    letters = [c for c in text if not c.isspace()]
    han = len(_HAN.findall(text))
    return "zh" if letters and han / len(letters) >= 0.2 else "other"


def line_shape(line: str) -> str:
    """A line with its speaker label and numbers removed: lines of one template share it.

    >>> line_shape("Agent: Your order 7121 is on its way.")
    'Your order # is on its way.'
    """
    return _DIGITS.sub("#", _SPEAKER.sub("", line.strip()))


def prepare_texts(raw: list[str | None], share: float = BOILERPLATE_SHARE) -> list[str | None]:
    """Texts without their boilerplate lines (see the module docstring); a text that is all
    boilerplate is kept whole (it is what it is), a one-line text is never touched.

    >>> docs = ["Hi, how can I help?\\nMy parcel is late", "Hi, how can I help?\\nRefund please"]
    >>> prepare_texts(docs, share=0.5)
    ['My parcel is late', 'Refund please']
    """
    shapes: Counter[str] = Counter()
    split: list[list[str] | None] = []
    for text in raw:
        if text is None:
            split.append(None)
            continue
        lines = [line for line in text.splitlines() if line.strip()]
        split.append(lines)
        shapes.update({_template(line) for line in lines} if len(lines) > 1 else set())
    limit = max(2, share * len(raw))
    out: list[str | None] = []
    for text, parts in zip(raw, split, strict=True):
        if parts is None or len(parts) <= 1:
            out.append(text)
            continue
        content = [line for line in parts if shapes[_template(line)] < limit]
        out.append("\n".join(content) if content else text)
    return out


def _template(line: str) -> str:
    """The shape with its varying middle removed: "…客服小涵为您服务…" and "…客服小雨为您
    服务…" differ in one name; the text around the longest run that varies is kept by
    taking the first and last 8 characters of the shape (a template's fixed ends)."""
    shape = line_shape(line)
    return shape if len(shape) <= 16 else shape[:8] + "…" + shape[-8:]
