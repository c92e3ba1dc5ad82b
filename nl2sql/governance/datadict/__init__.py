"""The data dictionary (``nl2sql catalog``): every table and column of a database, for people.

:func:`build` (:mod:`.builder`) turns a :class:`~nl2sql.catalog.Catalog` (introspection plus
the semantic layer) into a typed :class:`~.model.Document`, whose ``to_json`` is the
``--format json`` output; :func:`to_markdown` (:mod:`.markdown`) and :func:`to_html`
(:mod:`.html_page`) render it. All three are pure: no environment, no clock (the caller
passes the time), no files. :func:`write_file` is the one side effect (``--output``).
What may be shown (and why values are withheld) is decided in :mod:`.builder`.
"""

from __future__ import annotations

from pathlib import Path

from nl2sql.errors import ConfigError
from nl2sql.governance.datadict.builder import (  # noqa: F401  (re-exported)
    ACCESS_LABELS,
    MIN_SHOWN_COUNT,
    build,
)
from nl2sql.governance.datadict.html_page import to_html
from nl2sql.governance.datadict.markdown import to_markdown
from nl2sql.governance.datadict.model import VERSION, Document  # noqa: F401  (re-exported)

FORMATS = ("markdown", "html", "json")


def render(doc: Document, fmt: str) -> str:
    """The document in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "markdown":
        return to_markdown(doc)
    if fmt == "html":
        return to_html(doc)
    if fmt == "json":
        from nl2sql.encoding import to_json

        return to_json(doc.to_json()) + "\n"
    raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")


def write_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a reader never sees half a dictionary, and a
    failure leaves the old file."""
    from nl2sql.files import write_atomic

    write_atomic(path, text)
