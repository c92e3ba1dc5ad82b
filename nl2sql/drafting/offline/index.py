"""Find the catalog in a question: which spans name a table, a column, a value or a term.

The index is built from the catalog alone (names split into parts, synonyms,
value aliases, profile values, business terms) plus the built-in glossary, so
it works on any database. Matching works on character spans of the
normalised question; the longest match wins and matches never overlap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nl2sql.catalog import Catalog, Column, Table, Term
from nl2sql.column_types import is_numeric, is_temporal, is_text
from nl2sql.drafting.offline.glossary import CHINESE, CUE_WORDS, EN_STOP, ENGLISH, PLACES
from nl2sql.lexicon import name_parts, normalize, singular

_TOKEN = re.compile(r"[a-z0-9]+(?:['’.-][a-z0-9]+)*|[\u4e00-\u9fff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
# Profile values that are everyday words first: never read them as filters.
NEVER_VALUES = {"none", "other", "others", "yes", "no", "true", "false", "null", "n/a", "unknown",
                "all", "the", "and", "or", "not", "of", "in", "on", "at", "to", "by", "for"}
GENERIC_PARTS = {"id", "name", "date", "type", "code", "no", "number", "at", "key"}


@dataclass(frozen=True)
class Target:
    """What a phrase refers to. ``strength`` 3 exact name, 2 synonym/value, 1 part of a name."""

    kind: str  # "table" | "column" | "value" | "term"
    table: str = ""
    column: str = ""
    value: str = ""
    term: str = ""
    strength: int = 3


@dataclass
class Match:
    start: int
    end: int
    text: str
    targets: list[Target] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.targets[0].kind if self.targets else ""


@dataclass
class Index:
    """phrase (normalised, singular English words joined by spaces) -> targets."""

    phrases: dict[str, list[Target]] = field(default_factory=dict)
    terms: list[Term] = field(default_factory=list)  # the catalog's terms plus derived ones
    _by_first: dict[str, list[str]] | None = None
    _han: list[str] | None = None

    def add(self, phrase: str, target: Target) -> None:
        key = phrase_key(phrase)
        if not key:
            return
        bucket = self.phrases.setdefault(key, [])
        if target not in bucket:
            bucket.append(target)
        self._by_first = self._han = None

    def lookup(self) -> tuple[dict[str, list[str]], list[str]]:
        """English phrases by their first word, and the Chinese phrases (built once)."""
        if self._by_first is None or self._han is None:
            by_first: dict[str, list[str]] = {}
            han: list[str] = []
            for phrase in self.phrases:
                if _HAN.search(phrase) and " " not in phrase:
                    han.append(phrase)
                else:
                    by_first.setdefault(phrase.split(" ")[0], []).append(phrase)
            self._by_first, self._han = by_first, han
        return self._by_first, self._han


def phrase_key(text: str) -> str:
    """Normalised form used on both sides of matching: singular words, Chinese as is."""
    tokens = [t for t in _TOKEN.findall(normalize(text).replace("_", " "))]
    out: list[str] = []
    for tok in tokens:
        if _HAN.match(tok):
            if out and _HAN.match(out[-1][-1]):
                out[-1] += tok
            else:
                out.append(tok)
        else:
            out.append(singular(tok))
    return " ".join(out)


# Abbreviations in identifiers, spelled out as people say them (Fname, StuID, dept_no).
ABBREVIATIONS = {"fname": "first name", "lname": "last name", "mname": "middle name",
                 "stu": "student", "emp": "employee", "dept": "department", "num": "number",
                 "addr": "address", "qty": "quantity", "amt": "amount", "desc": "description",
                 "dob": "date of birth", "cust": "customer", "prod": "product", "org": "organization",
                 "mgr": "manager", "pct": "percent", "avg": "average", "yr": "year"}


def _column_phrases(table: Table, column: Column) -> list[tuple[str, int]]:
    parts = [singular(p) for p in name_parts(column.name)]
    phrases = [(" ".join(parts), 3)]
    spelled = [ABBREVIATIONS.get(part, part) for part in parts]
    if spelled != parts:
        phrases.append((" ".join(spelled), 3))  # "first name" for Fname
    table_parts = [singular(p) for p in name_parts(table.name)]
    if parts[: len(table_parts)] == table_parts and len(parts) > len(table_parts):
        phrases.append((" ".join(parts[len(table_parts):]), 2))  # CustomerName in Customer
    if len(parts) > 1 and parts[-1] not in GENERIC_PARTS:
        phrases.append((parts[-1], 1))  # BillingCountry -> country
    if len(parts) > 2 and parts[-1] == "id":
        phrases.append((" ".join(parts[:-1]), 2))  # SupportRepId -> support rep
    if len(parts) > 1 and parts[-1] in ("at", "date", "time", "on") and parts[0] not in GENERIC_PARTS \
            and parts[0] not in table_parts:
        phrases.append((parts[0], 1))  # closed_at -> closed, signup_date -> signup
    return phrases


def build(catalog: Catalog) -> Index:
    """The phrase index of ``catalog``."""
    index = Index()
    for table in catalog.tables.values():
        _add_table(index, table)
        for column in table.columns:
            _add_column(index, table, column)
    derived = derived_terms(catalog)
    index.terms = list(catalog.terms) + derived
    for term in index.terms:
        for phrase in [term.name, *term.synonyms]:
            taken = term in derived and any(t.kind in ("table", "column")
                                            for t in index.phrases.get(phrase_key(phrase), []))
            # A derived "sales" never hides a table called "sale"; it stays a second reading.
            index.add(phrase, Target("term", term=term.name, strength=1 if taken else 3))
    _add_glossary(index)
    return index


def derived_terms(catalog: Catalog) -> list[Term]:
    """"sales"/"销售额" for a database whose semantic layer does not define it: the sum of an
    order-level total, with the line-level price x quantity as the finer grain."""
    words = {w.lower() for t in catalog.terms for w in [t.name, *t.synonyms]}
    if words & set(SALES_WORDS):
        return []
    totals, lines = [], []
    for table in catalog.tables.values():
        temporal = any(is_temporal(c.type) for c in table.columns)
        for column in table.columns:
            parts = set(name_parts(column.name))
            if parts & {"total", "amount"} and not parts & {"unit", "price", "id"} and temporal \
                    and is_numeric(column.type):
                totals.append(f"sum({table.name}.{column.name})")
        price = next((c for c in table.columns if "price" in name_parts(c.name) and is_numeric(c.type)), None)
        qty = next((c for c in table.columns if set(name_parts(c.name)) & {"quantity", "qty", "units"}
                    and is_numeric(c.type)), None)
        if price is not None and qty is not None:
            lines.append(f"sum({table.name}.{price.name} * {table.name}.{qty.name})")
    definitions = totals[:1] + lines[:1]
    if not definitions:
        return []
    return [Term(name="sales", sql=definitions[0], synonyms=list(SALES_WORDS),
                 description="derived: no semantic layer defines sales", alternatives=definitions[1:])]


SALES_WORDS = ("sales", "revenue", "turnover", "spending", "spend", "spent", "income", "money",
               "销售额", "营业额", "营收", "收入", "消费", "消费额", "销售总额", "总销售额", "成交额")


def _add_table(index: Index, table: Table) -> None:
    words = [singular(p) for p in name_parts(table.name)]
    index.add(" ".join(words), Target("table", table=table.name, strength=3))
    if len(words) > 1 and words[0] not in GENERIC_PARTS:
        index.add(words[0], Target("table", table=table.name, strength=1))  # "support" tickets
    for synonym in table.synonyms:
        index.add(synonym, Target("table", table=table.name, strength=2))


def _add_column(index: Index, table: Table, column: Column) -> None:
    for phrase, strength in _column_phrases(table, column):
        if strength == 1 and (phrase in EN_STOP or phrase in CUE_WORDS):
            continue  # Date_Effective_To: "to" is a function word, not the column
        index.add(phrase, Target("column", table=table.name, column=column.name, strength=strength))
    for synonym in column.synonyms:
        index.add(synonym, Target("column", table=table.name, column=column.name, strength=2))
    for stored, aliases in column.values.items():
        for alias in [stored, *aliases]:
            if len(alias.strip()) < 2:
                continue  # one-character aliases (京, 沪) hide inside other words
            index.add(alias, Target("value", table=table.name, column=column.name, value=stored,
                                    strength=2))
    profile = column.profile
    if profile and not column.tags.get("pii"):
        labels = [v for v in profile.labels if not _common_word(v)]
        for value in [v for v, _count in profile.top_values] + labels:
            if _matchable_value(value):
                target = Target("value", table=table.name, column=column.name, value=value,
                                strength=2)
                index.add(value, target)
                for chinese in _PLACE_NAMES.get(value.lower(), ()):
                    index.add(chinese, target)


_PLACE_NAMES: dict[str, list[str]] = {}
for _cn, _spellings in PLACES.items():
    for _spelling in _spellings:
        _PLACE_NAMES.setdefault(_spelling.lower(), []).append(_cn)


def _common_word(value: str) -> bool:
    """A one-word name that is also an everyday word ("Numbers", "Time") is not matched."""
    key = phrase_key(value)
    return " " not in key and (len(key) < 4 or key in EN_STOP or key in CUE_WORDS
                               or singular(key) in EN_STOP or singular(key) in CUE_WORDS)


def _matchable_value(value: str) -> bool:
    text = value.strip()
    if len(text) < 2 or len(text) > 40 or text.lower() in NEVER_VALUES:
        return False
    return not text.replace(".", "").replace("-", "").isdigit()


def _add_glossary(index: Index) -> None:
    """Glossary words point wherever the name parts they stand for already point."""
    for phrase, targets in list(index.phrases.items()):
        words = phrase.split(" ")
        if len(words) < 2 or not phrase.isascii():
            continue
        for word, meanings in ENGLISH.items():
            if words[-1] in meanings and word != words[-1]:
                for target in targets:
                    if target.kind in ("table", "column"):
                        index.add(" ".join([*words[:-1], word]),
                                  Target(target.kind, target.table, target.column, strength=2))
    reverse: dict[str, list[str]] = {}
    for english, meanings in ENGLISH.items():
        for meaning in meanings:
            reverse.setdefault(meaning, []).append(english)
    for word, meanings in [*CHINESE.items(), *ENGLISH.items()]:
        # 员工 -> employee -> also staff, worker: reach a table called "staff"
        meanings = list(meanings) + [w for m in meanings for w in reverse.get(m, []) if " " not in m]
        for meaning in meanings:
            for target in list(index.phrases.get(phrase_key(meaning), [])):
                if target.kind in ("table", "column"):
                    weaker = Target(target.kind, target.table, target.column,
                                    strength=min(target.strength, 2))
                    index.add(word, weaker)


def tokens(question: str) -> list[tuple[str, int, int]]:
    """(normalised token, start, end) over the normalised question."""
    text = normalize(question)
    return [(m.group(0) if _HAN.match(m.group(0)) else singular(m.group(0)), m.start(), m.end())
            for m in _TOKEN.finditer(text)]


def find(question: str, index: Index) -> list[Match]:
    """Non-overlapping matches, longest first, in question order."""
    text = normalize(question)
    toks = tokens(question)
    by_first, han = index.lookup()
    candidates: list[Match] = []
    if _HAN.search(text):
        for phrase in han:
            if phrase in text:
                candidates += _occurrences(phrase, index.phrases[phrase], text, toks)
    for word in dict.fromkeys(t[0] for t in toks):  # question order: ties break the same way every run
        for phrase in by_first.get(word, ()):
            candidates += _occurrences(phrase, index.phrases[phrase], text, toks)
    candidates += _compounds(toks, index, text)
    kind_rank = {"term": 0, "value": 1, "table": 2, "column": 3}
    candidates.sort(key=lambda m: (-(m.end - m.start), -max(t.strength for t in m.targets),
                                   min(kind_rank.get(t.kind, 9) for t in m.targets)))
    chosen: list[Match] = []
    taken: set[int] = set()
    order = {"term": 0, "table": 1, "value": 2, "column": 3}
    for match in candidates:
        match.targets.sort(key=lambda t: (-t.strength, order.get(t.kind, 9)))
        span = set(range(match.start, match.end))
        if span & taken:
            continue
        taken |= span
        chosen.append(match)
    return sorted(chosen, key=lambda m: m.start)


def _compounds(toks: list[tuple[str, int, int]], index: Index, text: str) -> list[Match]:
    """Two words written as one name ("high schooler" for Highschooler, "home town" for
    Hometown): adjacent English words whose concatenation is a one-word phrase."""
    found = []
    for (a, start, _), (b, _, end) in zip(toks, toks[1:], strict=False):
        if not (a.isascii() and b.isascii()) or a in EN_STOP or len(a) < 3:
            continue
        targets = index.phrases.get(singular(a + b))
        if targets and text[start:end].count(" ") == 1:
            found.append(Match(start, end, text[start:end], list(targets)))
    return found


def _occurrences(phrase: str, targets: list[Target], text: str,
                 toks: list[tuple[str, int, int]]) -> list[Match]:
    if _HAN.search(phrase) and " " not in phrase:
        return [Match(m.start(), m.end(), phrase, list(targets))
                for m in re.finditer(re.escape(phrase), text)]
    words = phrase.split(" ")
    found = []
    for i in range(len(toks) - len(words) + 1):
        if all(toks[i + j][0] == w for j, w in enumerate(words)):
            start, end = toks[i][1], toks[i + len(words) - 1][2]
            found.append(Match(start, end, text[start:end], list(targets)))
    return found


def label_column(table: Table) -> Column | None:
    """The column that names a row: ``name``/``title``, else the first text column."""
    own = singular(name_parts(table.name)[-1])
    for wanted in ("name", "title", "full name", "label"):
        for column in table.columns:
            if " ".join(name_parts(column.name)) in (wanted, f"{own} {wanted}"):
                return column
    for column in table.columns:
        if "name" in name_parts(column.name) or "title" in name_parts(column.name):
            return column
    return next((c for c in table.columns if is_text(c.type)), None)


def term_by_name(index: Index, name: str) -> Term | None:
    return next((t for t in index.terms if t.name == name), None)
