"""Filters: values named in the question ("in Shanghai", "cancelled"), numbers next to a
column, negations ("without an order", "not resolved", "还没打分") and states ("still open").
"""

from __future__ import annotations

import re

from nl2sql.catalog import Column
from nl2sql.column_types import is_numeric, is_temporal, is_text
from nl2sql.drafting.offline import index as idx
from nl2sql.drafting.offline.compose import fans_out
from nl2sql.drafting.offline.dates import date_filters
from nl2sql.drafting.offline.glossary import ANTONYMS, CN_STOP, EN_STOP, STATE_SYNONYMS
from nl2sql.drafting.offline.intent import ColumnRef, Filter, Intent
from nl2sql.drafting.offline.reading import (
    Parse,
    anchor_table,
    bridge_to,
    column_of,
    column_targets,
    cues_of,
    distance,
    in_projection,
    is_han,
    join_path,
    measurable,
    nearest,
    only_key_to,
    overlaps,
    pick_column,
    table_of,
    use_class_suffix,
)
from nl2sql.drafting.offline.words import Cue
from nl2sql.errors import DrafterDeclined
from nl2sql.lexicon import name_parts


def add_filters(p: Parse, intent: Intent) -> None:
    for m in p.matches:
        if m.kind == "value":
            _value_filter(p, intent, m)
    _numeric_equalities(p, intent)
    _qualifiers(p, intent)
    _negated_tables(p, intent)
    _negated_states(p, intent)
    _negated_columns(p, intent)
    date_filters(p, intent)
    _state_filters(p, intent)


def _value_filter(p: Parse, intent: Intent, m: idx.Match) -> None:
    p.use(m.start, m.end)
    if _verb_of_next_value(p, m):
        return  # "orders shipped to Beijing": shipped says which column Beijing is in
    values = [t for t in m.targets if t.kind == "value"]
    _named_column_agrees(p, m, values)
    anchor = anchor_table(p, m)
    counted = intent.measure.table if intent.measure and intent.measure.func == "count" else None
    pick = min(values, key=lambda t: (
        _own_label(p, t, counted), 0 if anchor and t.table == anchor else 1,
        *distance(p, intent.base, t.table)))
    ref = ColumnRef(pick.table, pick.column)
    negation = _negation_before(p, m.start)
    repeated = fans_out(p.catalog, join_path(p, intent.base, ref.table)) if ref.table != intent.base \
        else False
    if negation is None and repeated:
        negation = _negation_word_before(p, m.start)  # "do not have a cat"
    negated = negation is not None
    if negation is not None:
        p.use(negation.start, negation.end)
    if negated and repeated:  # no related row has the value: NOT EXISTS, never EXISTS(!=)
        intent.filters.append(Filter(ref, "=", [pick.value], absent=True))
        use_class_suffix(p, m.end)
        return
    op = "!=" if negated else "="
    use_class_suffix(p, m.end)
    bound = re.match(r"\s*(及以上|以上|or more|or above|and above|or higher|plus|及以下|以下|or less|"
                     r"or below|or fewer|or lower|and below)", p.text[m.end:])
    value: object = pick.value
    column = column_of(p, ref)
    if is_numeric(column.type):
        try:
            value = float(pick.value) if "." in pick.value else int(pick.value)
        except ValueError:
            pass
    if bound and isinstance(value, (int, float)) and not negated:
        p.use(m.end, m.end + bound.end())
        op = ">=" if bound.group(1) in ("及以上", "以上", "or more", "or above", "and above",
                                        "or higher", "plus") else "<="
        intent.filters.append(Filter(ref, op, [value]))
        return
    for f in intent.filters:
        if f.column == ref and f.op in ("=", "in") and not negated and not f.absent:
            f.op = "in"
            if value not in f.values:
                f.values.append(value)
            return
    intent.filters.append(Filter(ref, op, [value]))


def _named_column_agrees(p: Parse, m: idx.Match, values: list[idx.Target]) -> None:
    """"the city of Anthony" where the database knows Anthony only as an airport name: the
    question says which column, the data says another; declining beats either guess."""
    for c in p.matches:
        before = c.end <= m.start and p.text[c.end:m.start].strip() in ("of", "of the", "named",
                                                                          "called")
        columns = {(t.table, t.column) for t in column_targets(c)
                   if is_text(column_of(p, ColumnRef(t.table, t.column)).type)}
        if not before or not columns:
            continue
        same_table = {t for t in columns if any(t[0] == v.table for v in values)}
        if same_table and not same_table & {(v.table, v.column) for v in values}:
            named = ", ".join(f"{t}.{col}" for t, col in sorted(same_table))
            found = ", ".join(sorted({f"{v.table}.{v.column}" for v in values}))
            raise DrafterDeclined(f"the question names {named} for “{m.text}”, but the data has "
                                  f"it in {found}")


def _stem(word: str) -> str:
    """"shipped", "shipping", "ships" -> "ship" (enough to compare a verb with a name part)."""
    for suffix in ("ing", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 3 and word[-1] == word[-2] else word


def _verb_of_next_value(p: Parse, m: idx.Match) -> bool:
    """A value word used as the verb of the next value ("shipped to Beijing" where Beijing is a
    shipping_city): its stem is a name part of the next value's column."""
    if " " in m.text or not m.text.isascii():
        return False
    gap = re.match(r"\s+(?:to|from|in|at|on|into|via)\s+", p.text[m.end:])
    if gap is None:
        return False
    nxt = next((v for v in p.matches if v.kind == "value" and v.start == m.end + gap.end()), None)
    if nxt is None:
        return False
    stem = _stem(m.text)
    return any(stem == _stem(part) for t in nxt.targets if t.kind == "value"
               for part in name_parts(t.column))


def _numeric_equalities(p: Parse, intent: Intent) -> None:
    """"售价1.99的曲目", "rating of 5": a number right after a numeric column."""
    for m in p.matches:
        if m.start in p.used or not column_targets(m):
            continue
        ref = pick_column(p, m, numeric=True, base=intent.base)
        if not measurable(column_of(p, ref)):
            continue
        hit = re.match(r"\s*(?:of|=|is|为|是|等于)?\s*(\d+(?:\.\d+)?)(?!\d|\.\d)", p.text[m.end:])
        if hit is None or any(pos in p.used for pos in range(m.end, m.end + hit.end())):
            continue
        before = _COMPARED_BEFORE.search(p.text[:m.start])
        op = "="
        if before is not None:  # "singers above age 20", "visitors below age 30"
            op = COMPARISON_WORDS[before.group(1)]
            p.use(before.start(1), before.end(1))
        if overlaps(m.end + hit.start(1), m.end + hit.end(1), [
               c for c in p.cues if c.kind in ("gt", "ge", "lt", "le", "between", "top")]):
            continue
        number = float(hit.group(1))
        p.use(m.start, m.end + hit.end())
        intent.filters.append(Filter(ref, op, [int(number) if number.is_integer() else number]))


COMPARISON_WORDS = {"above": ">", "over": ">", "more than": ">", "greater than": ">",
                    "higher than": ">", "bigger than": ">", "larger than": ">", "older than": ">",
                    "below": "<", "under": "<", "less than": "<", "lower than": "<",
                    "smaller than": "<", "fewer than": "<", "younger than": "<", "at least": ">=",
                    "at most": "<=", "no more than": "<=", "no less than": ">="}
_COMPARED_BEFORE = re.compile(r"\b(" + "|".join(sorted(COMPARISON_WORDS, key=len, reverse=True))
                              + r")\s+(?:the\s+|an?\s+|their\s+|its\s+)?$")


def _qualifiers(p: Parse, intent: Intent) -> None:
    """"the electronics category", "门店渠道", "Acme品牌": a column named right next to one of
    its values only qualifies the value."""
    for m in p.matches:  # "公司名称", "州信息": the name/information of a column is the column
        suffix = re.match(r"(名称|名字|信息|字段|的信息)", p.text[m.end:])
        if suffix and column_targets(m):
            p.use(m.end, m.end + suffix.end())
    filtered = {f.column for f in intent.filters}
    for m in p.matches:
        if m.start in p.used or not column_targets(m):
            continue
        for value in (v for v in p.matches if v.kind == "value" and v.start in p.used):
            near = 0 <= m.start - value.end <= 3 or 0 <= value.start - m.end <= 3
            same = {ColumnRef(t.table, t.column) for t in column_targets(m)} & filtered
            if near and same:
                p.use(m.start, m.end)
                use_class_suffix(p, m.end)
                break


def _negated_tables(p: Parse, intent: Intent) -> None:
    """"tickets without an order", "customers who never placed an order"."""
    for cue in cues_of(p, "not"):
        target = nearest(p, cue, lambda m: m.kind == "table" and m.start not in p.used,
                         window=20, after_only=True)
        if target is not None and not all(w in EN_STOP or w in CN_STOP or is_han(w[0])
                                          for w in p.text[cue.end:target.start].split()):
            continue
        if target is None or target.targets[0].table == intent.base:
            continue
        table = target.targets[0].table
        own_fk = only_key_to(p, intent.base, table)
        their_fk = only_key_to(p, table, intent.base)
        base = table_of(p, intent.base)
        if own_fk is not None and (base.column(own_fk) or Column("", "")).nullable:
            intent.filters.append(Filter(ColumnRef(intent.base, own_fk), "is_null"))
        elif their_fk is not None and base.primary_key:
            intent.filters.append(Filter(ColumnRef(intent.base, base.primary_key[0]), "no_related",
                                         [table, their_fk]))
        elif base.primary_key and (bridge := bridge_to(p, table, intent.base)) is not None:
            intent.filters.append(Filter(ColumnRef(intent.base, base.primary_key[0]), "no_related",
                                         list(bridge)))  # "students who have no pet" (Has_Pet)
        else:
            continue
        p.use(cue.start, cue.end)
        p.use(target.start, target.end)


def _own_label(p: Parse, target: idx.Target, counted: str | None) -> int:
    """Counting albums *named* "Iron Maiden" is unlikely; the artist of that name is meant."""
    if counted is None or target.table != counted:
        return 0
    label = idx.label_column(table_of(p, counted))
    naming = label is not None and set(name_parts(label.name)) & {"name", "title"}
    return 1 if naming and label is not None and label.name == target.column else 0


def _negated_states(p: Parse, intent: Intent) -> None:
    """"not resolved" / "还没解决" / "not closed": the state column is still empty."""
    for m in list(p.matches) + _state_words(p):
        if m.start in p.used:
            continue
        state = m.text if m.text in STATE_SYNONYMS else None
        words = STATE_SYNONYMS.get(state or "", ())
        if not words and column_targets(m):
            continue
        negation = _negation_before(p, m.start)
        if negation is None or not words:
            continue
        ref = _state_column(p, intent.base, words)
        if ref is not None:
            p.use(negation.start, negation.end)
            p.use(m.start, m.end)
            intent.filters.append(Filter(ref, "is_null"))


def _state_words(p: Parse) -> list[idx.Match]:
    """Finished-state words in the question that no catalog name claimed."""
    found = []
    for word in [*STATE_SYNONYMS, *STATE_CHINESE]:
        for hit in re.finditer(re.escape(word), p.text):
            english = STATE_CHINESE.get(word, word)
            found.append(idx.Match(hit.start(), hit.end(), english))
    return found


STATE_CHINESE = {"解决": "resolved", "关闭": "closed", "完成": "completed", "结束": "finished",
                 "处理完": "completed"}


def _negated_columns(p: Parse, intent: Intent) -> None:
    """"tickets with no satisfaction rating", "还没打分的工单": an empty nullable column."""
    for m in p.matches:
        if m.start in p.used or not column_targets(m):
            continue
        negation = _negation_before(p, m.start) or _negation_word_before(p, m.start)
        if negation is None:
            continue
        ref = pick_column(p, m, base=intent.base)
        column = column_of(p, ref)
        if column.nullable and not column.primary_key:
            p.use(negation.start, negation.end)
            p.use(m.start, m.end)
            intent.filters.append(Filter(ref, "is_null"))


def _negation_word_before(p: Parse, start: int) -> Cue | None:
    """"no satisfaction score", "never got a score": a negation a few words back."""
    for cue in p.cues:
        gap = p.text[cue.end:start].split()
        if cue.kind != "not" or p.text[cue.start:cue.end] in CONTINUING:
            continue
        if 0 < start - cue.end <= 12 and all(w in EN_STOP or w in CN_STOP for w in gap):
            return cue
    return None


def _state_filters(p: Parse, intent: Intent) -> None:
    """"still open" / "未关闭" -> closed_at IS NULL; "closed tickets" -> IS NOT NULL."""
    tokens = idx.tokens(p.text)
    for word, start, end in tokens:
        opposite = ANTONYMS.get(word)
        if opposite is None or start in p.used:
            continue
        ref = _state_column(p, intent.base, opposite)
        if ref is not None and not _negation_before(p, start):
            p.use(start, end)
            _use_nearby_not(p, start)
            intent.filters.append(Filter(ref, "is_null"))
    for m in p.matches:
        if m.start in p.used or not column_targets(m):
            continue
        t = column_targets(m)[0]
        column = column_of(p, ColumnRef(t.table, t.column))
        if is_temporal(column.type) and m.text != t.column and not in_projection(p, m):
            negated = _use_nearby_not(p, m.start)
            p.use(m.start, m.end)
            if column.nullable or negated:  # "registered customers": always set, no filter
                intent.filters.append(Filter(ColumnRef(t.table, t.column),
                                             "is_null" if negated else "not_null"))


def _negation_before(p: Parse, start: int) -> Cue | None:
    """A "not"/"未"/"never" right before ``start`` (nothing but a space or 的 between)."""
    for cue in p.cues:
        gap = p.text[cue.end:start].strip(" \"'‘’“”`")
        if cue.kind == "not" and cue.end <= start and start - cue.end <= 8 and gap in (
                "", "的", "被", "from", "in", "a", "an", "the", "equal to") \
                and p.text[cue.start:cue.end] not in CONTINUING:
            return cue  # "is not 'France'", "not from Russia"
    return None


CONTINUING = {"still", "仍", "还"}  # "still open": not a negation


def _use_nearby_not(p: Parse, start: int) -> bool:
    for cue in p.cues:
        if cue.kind == "not" and 0 <= start - cue.end <= 3:
            p.use(cue.start, cue.end)
            return True
    return False


def _state_column(p: Parse, base: str, words: tuple[str, ...]) -> ColumnRef | None:
    for word in words:
        for name in sorted(p.catalog.tables, key=lambda n: distance(p, base, n)):
            if distance(p, base, name)[0]:
                continue
            for column in table_of(p, name).columns:
                parts = name_parts(column.name)
                if parts and parts[0] == word and is_temporal(column.type) and column.nullable:
                    return ColumnRef(name, column.name)
    return None
