"""``nl2sql scan-pii --write``: the scanner's findings, added to a semantic-layer YAML for review.

People decide what is personal data and what to do about it; the scanner only proposes.
So this module *adds* keys and never changes one: a structured column gets
``pii: <kind>``, prose gets ``tags: {pii_mentions: [kinds]}``, each with a comment
saying where it came from (``# scan-pii: high, 100% of 200 sampled``). A key a person
already set is kept, and a different finding is reported as a disagreement. ``mask`` and
``deny`` are policy and never written. The one policy key proposed is ``redact_text``
for prose that holds phones, e-mails, IDs or card numbers: it hides only those values
(the text stays readable), and a proposal in the file is what a reviewer accepts or
edits; a file that already says ``redact_text`` agrees when it covers the kinds found.

The file is edited with ruamel.yaml's round-trip mode, so comments, key order, anchors and
quoting survive; the indentation that reproduces the file best is chosen, the result must
read back (with the PyYAML loader ``semantic.py`` uses) as the old data plus exactly the
added keys, and it replaces the old file atomically (temporary file, fsync, rename). A
second run with the same findings changes nothing and does not touch the file.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import os
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from nl2sql.catalog import MENTIONS_TAG, PII_TAG, REDACT_TEXT_TAG
from nl2sql.errors import ConfigError
from nl2sql.governance.pii import ColumnFinding
from nl2sql.pii_patterns import REDACT_ORDER

#: (mapping indent, sequence indent, dash offset) layouts tried when re-emitting a file.
LAYOUTS = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 2, 0), (4, 6, 4))
NEW_FILE_HEADER = ("Semantic layer for {database}. The pii keys and tags below were proposed by\n"
                   "`nl2sql scan-pii --write`: review them; mask/deny policy is yours to add.")


@dataclass(frozen=True)
class Entry:
    """One key the scan proposes for one column, and what the file already says there."""

    table: str
    column: str
    key: str  # "pii", "tags.pii_mentions" or "redact_text"
    value: str | list[str]
    note: str  # "high, 100% of 200 sampled"
    file_value: Any = None

    @property
    def agrees(self) -> bool:
        """Whether the file's value says the same as the scan (lists compared as sets; a
        ``redact_text`` that hides at least the kinds found agrees)."""
        if self.key == REDACT_TEXT_TAG:
            return set(self.value) <= _redacted_kinds(self.file_value)
        if isinstance(self.value, list) and isinstance(self.file_value, list):
            return {str(v) for v in self.file_value} == set(self.value)
        return self.file_value == self.value

    def to_json(self) -> dict[str, Any]:
        """``value`` is the scan's; ``file_value`` what the file holds (null: unset or null)."""
        return {"table": self.table, "column": self.column, "key": self.key,
                "value": self.value, "note": self.note, "file_value": _plain(self.file_value)}


@dataclass
class Target:
    """A semantic-layer file loaded for editing (``text`` is None when it does not exist)."""

    path: Path
    database: str
    text: str | None
    doc: Any  # ruamel CommentedMap
    layout: tuple[int, int, int]
    newline: str = "\n"


@dataclass
class WriteReport:
    """What ``write_findings`` did: keys written, keys kept, and where file and scan differ."""

    path: Path
    created: bool = False
    changed: bool = False
    written: list[Entry] = field(default_factory=list)
    kept: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reformatted_lines: int = 0

    @property
    def disagreements(self) -> list[Entry]:
        return [e for e in self.kept if not e.agrees]

    def to_json(self) -> dict[str, Any]:
        return {"file": str(self.path), "created": self.created, "changed": self.changed,
                "written": [e.to_json() for e in self.written],
                "kept": [e.to_json() for e in self.kept],
                "disagreements": [e.to_json() for e in self.disagreements],
                "notes": self.notes, "reformatted_lines": self.reformatted_lines}


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def _yaml(layout: tuple[int, int, int]) -> YAML:
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096  # never fold a long line the file kept on one
    rt.allow_unicode = True
    mapping, sequence, offset = layout
    rt.indent(mapping=mapping, sequence=sequence, offset=offset)
    return rt


def load_target(path: Path, database: str) -> Target:
    """Read ``path`` for editing, refusing what must not be written to.

    Checked before the (slow) scan so a wrong path fails at once: not valid YAML, not a
    mapping, or a file whose ``database:`` names another database.
    """
    if path.is_dir():
        raise ConfigError(f"--write {path}: is a folder, not a YAML file")
    if not path.exists():
        if not path.parent.is_dir():
            raise ConfigError(f"--write {path}: folder {path.parent} does not exist")
        doc = CommentedMap([("database", database)])
        doc.yaml_set_start_comment(NEW_FILE_HEADER.format(database=database))
        return Target(path, database, None, doc, LAYOUTS[0])
    text = _read(path)
    newline = "\r\n" if "\r\n" in text else "\n"
    try:
        doc = _yaml(LAYOUTS[0]).load(text)
        yaml.load(text, Loader=_Loader)  # what semantic.py will read must parse too
    except (YAMLError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).strip().splitlines()[0]}") from exc
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise ConfigError(f"{path}: the top level must be a mapping")
    named = doc.get("database")
    if named is not None and str(named) != database:
        raise ConfigError(f"{path} is the semantic layer of database {named!r}, not {database!r}")
    return Target(path, database, text, doc, _best_layout(doc, _lf(text)), newline)


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n")


def _read(path: Path) -> str:
    """The file's text exactly as stored (line ends included), to compare and to splice."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid YAML: not UTF-8 text") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _dump(doc: Any, layout: tuple[int, int, int]) -> str:
    out = io.StringIO()
    _yaml(layout).dump(doc, out)
    return out.getvalue()


def _lost_lines(old: str, new: str) -> int:
    """Lines of ``old`` that ``new`` does not keep verbatim (in order)."""
    a, b = old.splitlines(), new.splitlines()
    kept = sum(block.size for block in difflib.SequenceMatcher(None, a, b, autojunk=False)
               .get_matching_blocks())
    return len(a) - kept


def _best_layout(doc: Any, text: str) -> tuple[int, int, int]:
    """The indentation under which ruamel re-emits the unchanged file most faithfully."""
    best, best_lost = LAYOUTS[0], None
    for layout in LAYOUTS:
        lost = _lost_lines(text, _dump(doc, layout))
        if best_lost is None or lost < best_lost:
            best, best_lost = layout, lost
        if lost == 0:
            break
    return best


def _splice(original: str, before: str, after: str) -> str | None:
    """``original`` with the lines that ``after`` adds to ``before`` (two dumps of the
    document, without and with our keys) inserted at the matching places.

    ruamel cannot reproduce every detail (a long plain scalar folded by hand, odd
    indentation), so rather than its whole re-emitted text, only the added lines go into
    the person's file. ``None`` when the edit is not purely additive or a place is
    ambiguous; the caller then falls back to ruamel's text.
    """
    o, b, a = (t.splitlines(keepends=True) for t in (original, before, after))
    if o and not o[-1].endswith("\n"):
        o[-1] += "\n"
    to_orig: dict[int, int] = {}
    for block in difflib.SequenceMatcher(None, b, o, autojunk=False).get_matching_blocks():
        to_orig.update({block.a + i: block.b + i for i in range(block.size)})
    to_orig[len(b)] = len(o)
    inserts: list[tuple[int, list[str]]] = []
    for tag, i1, _i2, j1, j2 in difflib.SequenceMatcher(None, b, a, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        at = to_orig.get(i1)
        after_prev = to_orig[i1 - 1] + 1 if i1 > 0 and i1 - 1 in to_orig else None
        if tag != "insert" or at is None or (after_prev is not None and after_prev != at):
            return None
        inserts.append((at, a[j1:j2]))
    for at, lines in reversed(inserts):
        o[at:at] = lines
    return "".join(o)


# --------------------------------------------------------------------------------------
# What the scan proposes
# --------------------------------------------------------------------------------------


def _percent(share: float) -> str:
    """``100%``, ``98.5%``, ``2.2%``: one decimal, none when it is zero."""
    return f"{share:.1%}".replace(".0%", "%")


def _note(finding: ColumnFinding, share: float) -> str:
    note = f"{finding.confidence}, {_percent(share)} of {finding.rows_sampled} sampled"
    return note + ", by column name only" if finding.evidence == "name" else note


def _redacted_kinds(file_value: Any) -> set[str]:
    """The kinds a ``redact_text`` value in the file hides (as the semantic layer reads it)."""
    if file_value in ("all", True):
        return set(REDACT_ORDER)
    if isinstance(file_value, str):
        return {file_value}
    return {str(v) for v in file_value} if isinstance(file_value, list) else set()


def proposals(finding: ColumnFinding) -> list[Entry]:
    """The keys one finding proposes.

    Prose (``evidence == "embedded"``) gets ``tags.pii_mentions`` and, when some kind found
    can be redacted inside text, ``redact_text`` with those kinds; a structured column
    gets ``pii:`` with its most frequent kind, and any other kinds it also holds go to
    ``tags.pii_mentions`` (``pii`` holds one kind, which is what the rest of nl2sql expects).
    """
    where = (finding.table, finding.column)
    if finding.evidence == "embedded":
        entries = [Entry(*where, f"tags.{MENTIONS_TAG}", list(finding.kinds),
                         _note(finding, finding.share))]
        hidden = [k for k in REDACT_ORDER if k in finding.kinds]
        if hidden:
            share = max(finding.kind_shares.get(k, 0.0) for k in hidden)
            entries.append(Entry(*where, REDACT_TEXT_TAG, hidden, _note(finding, share)))
        return entries
    main = max(finding.kinds, key=lambda k: finding.kind_shares.get(k, 0.0))
    entries = [Entry(*where, PII_TAG, main, _note(finding, finding.kind_shares.get(main, 0.0)))]
    others = [k for k in finding.kinds if k != main]
    if others:
        share = max(finding.kind_shares.get(k, 0.0) for k in others)
        entries.append(Entry(*where, f"tags.{MENTIONS_TAG}", others, _note(finding, share)))
    return entries


# --------------------------------------------------------------------------------------
# Applying (the same code runs on the ruamel document and on PyYAML's plain data)
# --------------------------------------------------------------------------------------


def _find_key(mapping: MutableMapping[Any, Any], name: str) -> Any:
    """The key of ``mapping`` that names ``name`` (exactly, else case-insensitively), as
    ``Catalog.table``/``Table.column`` resolve them; ``None`` when there is none."""
    if name in mapping:
        return name
    wanted = name.lower()
    return next((k for k in mapping if str(k).lower() == wanted), None)


def _mapping_at(parent: MutableMapping[Any, Any], name: str, where: str, create: bool
                ) -> MutableMapping[Any, Any] | None:
    """``parent[name]`` as a mapping; created (empty) when ``create``, else ``None`` if absent."""
    key = _find_key(parent, name)
    value = parent.get(key) if key is not None else None
    if value is None:
        if not create:
            return None
        value = type(parent)()  # CommentedMap in the document, dict in plain data
        parent[name if key is None else key] = value
    if not isinstance(value, MutableMapping):
        raise ConfigError(f"{where} must be a mapping, not {type(value).__name__}")
    return value


def _column_spec(doc: MutableMapping[Any, Any], path: Path, table: str, column: str,
                 create: bool) -> MutableMapping[Any, Any] | None:
    """``tables.<table>.columns.<column>`` of ``doc`` (created along the way when ``create``)."""
    node: MutableMapping[Any, Any] | None = doc
    for name, where in (("tables", f"{path}: tables"), (table, f"{path}: tables.{table}"),
                        ("columns", f"{path}: tables.{table}.columns"),
                        (column, f"{path}: tables.{table}.columns.{column}")):
        assert node is not None
        node = _mapping_at(node, name, where, create)
        if node is None:
            return None
    return node


def _current(spec: MutableMapping[Any, Any] | None, key: str, path: Path, where: str) -> Any:
    """What the file holds at ``key`` (``pii``, ``redact_text`` or ``tags.<name>``);
    ``None`` when unset."""
    if spec is None:
        return None
    if not key.startswith("tags."):
        return spec.get(key)
    tags = _mapping_at(spec, "tags", f"{path}: {where}.tags", create=False)
    return None if tags is None else tags.get(key.removeprefix("tags."))


def _is_set(spec: MutableMapping[Any, Any] | None, key: str) -> bool:
    """Whether a person set ``key`` at all (``pii: null`` counts: it is a decision)."""
    if spec is None:
        return False
    if not key.startswith("tags."):
        return key in spec
    tags = spec.get("tags")
    return isinstance(tags, MutableMapping) and key.removeprefix("tags.") in tags


def _set(spec: MutableMapping[Any, Any], entry: Entry, path: Path, where: str) -> None:
    """Add ``entry`` to a column spec, with its provenance comment in the ruamel document."""
    comment = f"scan-pii: {entry.note}"
    if entry.key == PII_TAG:
        spec[PII_TAG] = entry.value
        if isinstance(spec, CommentedMap):
            spec.yaml_add_eol_comment(comment, PII_TAG)
        return
    if entry.key == REDACT_TEXT_TAG:
        _set_list(spec, REDACT_TEXT_TAG, entry.value, comment)
        return
    tags = _mapping_at(spec, "tags", f"{path}: {where}.tags", create=True)
    assert tags is not None
    _set_list(tags, entry.key.removeprefix("tags."), entry.value, comment)


def _set_list(mapping: MutableMapping[Any, Any], key: str, values: Any, comment: str) -> None:
    """``key: [a, b]`` in flow style with ``comment`` at the end of its line (plain data
    where the document is not ruamel's round-trip kind)."""
    if isinstance(mapping, CommentedMap):
        seq = CommentedSeq(values)
        seq.fa.set_flow_style()
        mapping[key] = seq
        mapping.yaml_add_eol_comment(comment, key)
    else:
        mapping[key] = list(values)


def _apply(doc: MutableMapping[Any, Any], entries: list[Entry], path: Path,
           on_kept: Callable[[Entry], None], on_written: Callable[[Entry], None]) -> None:
    for entry in entries:
        where = f"tables.{entry.table}.columns.{entry.column}"
        spec = _column_spec(doc, path, entry.table, entry.column, create=False)
        if _is_set(spec, entry.key):
            on_kept(Entry(entry.table, entry.column, entry.key, entry.value, entry.note,
                          _current(spec, entry.key, path, where)))
            continue
        spec = _column_spec(doc, path, entry.table, entry.column, create=True)
        assert spec is not None
        _set(spec, entry, path, where)
        on_written(entry)


def _ensure_database(doc: MutableMapping[Any, Any], target: Target) -> bool:
    """Add ``database:`` first when the file lacks it and its name would not find it."""
    if "database" in doc or target.path.stem == target.database:
        return False
    if isinstance(doc, CommentedMap):
        doc.insert(0, "database", target.database)
    else:
        doc["database"] = target.database
    return True


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def write_findings(target: Target, findings: list[ColumnFinding]) -> WriteReport:
    """Add the findings to ``target``'s file; only keys that are not set yet are written."""
    report = WriteReport(path=target.path, created=target.text is None)
    entries = [e for f in findings for e in proposals(f)]
    before = _dump(target.doc, target.layout) if target.text is not None else ""
    _apply(target.doc, entries, target.path, report.kept.append, report.written.append)
    if target.text is not None and _ensure_database(target.doc, target):
        report.notes.append(f"added database: {target.database} (the file name does not say it)")
    if not report.written and not report.created and not report.notes:
        return report
    new_text = _dump(target.doc, target.layout)
    if target.text is not None:
        new_text = _new_text(target, entries, before, new_text)
        report.reformatted_lines = _lost_lines(_lf(target.text), new_text)
        if report.reformatted_lines:
            report.notes.append(f"{report.reformatted_lines} existing line(s) were re-indented "
                                f"or re-flowed by the YAML writer (their data is unchanged)")
    _replace(target, new_text.replace("\n", target.newline))
    report.changed = True
    return report


def _new_text(target: Target, entries: list[Entry], before: str, after: str) -> str:
    """The person's text with only our lines added when possible, else ruamel's whole text;
    either must read back as the old data plus exactly our keys."""
    assert target.text is not None
    spliced = _splice(_lf(target.text), before, after)
    if spliced is not None:
        with contextlib.suppress(ConfigError):
            _check_reads_back(target, entries, spliced)
            return spliced
    _check_reads_back(target, entries, after)
    return after


def _check_reads_back(target: Target, entries: list[Entry], new_text: str) -> None:
    """The new text must read (as semantic.py reads it) as the old data plus our keys."""
    assert target.text is not None
    expected = yaml.load(target.text, Loader=_Loader) or {}
    _apply(expected, entries, target.path, lambda e: None, lambda e: None)
    _ensure_database(expected, target)
    if yaml.load(new_text, Loader=_Loader) != expected:
        raise ConfigError(f"{target.path}: the YAML writer would change more than the scan-pii "
                          f"keys; nothing written")


def _replace(target: Target, text: str) -> None:
    """Write ``text`` over ``target.path`` atomically: a crash leaves the old file or the new
    one, never half of one. Refuses when the file changed since it was read (the scan takes
    a while, and a person's edit must not be lost)."""
    path = Path(os.path.realpath(target.path))
    current = _read(path) if path.exists() else None
    if current != target.text:
        raise ConfigError(f"{target.path} changed during the scan; nothing written, run again")
    from nl2sql.files import write_atomic

    write_atomic(path, text)


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """ruamel's commented containers as plain lists and dicts (for JSON and messages)."""
    if isinstance(value, MutableMapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _shown(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return "null" if value is None else str(value)


def report_lines(report: WriteReport) -> list[str]:
    """The write report for people: a summary line, then one line per key."""
    state = "created" if report.created else ("updated" if report.changed else "unchanged")
    lines = [f"{report.path}: {state}; {len(report.written)} written, {len(report.kept)} kept, "
             f"{len(report.disagreements)} disagreement(s)"]
    for e in report.written:
        lines.append(f"  + {e.table}.{e.column}: {e.key}: {_shown(e.value)}  ({e.note})")
    for e in report.kept:
        if e.agrees:
            lines.append(f"  = {e.table}.{e.column}: {e.key}: {_shown(e.file_value)} (already set)")
        else:
            lines.append(f"  ! {e.table}.{e.column}: the file says {e.key}: {_shown(e.file_value)}, "
                         f"the scan found {_shown(e.value)} ({e.note}); kept the file's value")
    lines += [f"  note: {n}" for n in report.notes]
    return lines
