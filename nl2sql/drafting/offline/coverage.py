"""Honesty: every word of the question must be accounted for. Words no match, cue or stop word
covers are named in the decline ("明年的销售额会是多少" -> 明年, 会).
"""

from __future__ import annotations

import re

from nl2sql.drafting.offline import index as idx
from nl2sql.drafting.offline.glossary import CN_STOP, CN_STOP_WORDS, EN_STOP
from nl2sql.drafting.offline.intent import ColumnRef, Intent
from nl2sql.drafting.offline.reading import Parse, column_targets, is_han
from nl2sql.errors import DrafterDeclined


def check_coverage(p: Parse, intent: Intent) -> None:
    unknown = unknown_words(p)
    unmatched = [m for m in p.matches if m.start not in p.used and m.text not in EN_STOP]
    unknown += [m.text for m in unmatched if m.kind in ("column", "term", "value")]
    if unknown:
        words = list(dict.fromkeys(unknown))
        raise DrafterDeclined(
            f"I understood “{intent.explain()}” but not {', '.join(f'“{w}”' for w in words)}",
            understood=intent.explain(), unknown=words)


def unknown_words(p: Parse) -> list[str]:
    """Words no match, cue or stop word accounts for; Chinese as runs of adjacent characters
    with stop words taken out ("明年的销售额会是多少" -> 明年, 会)."""
    unknown: list[str] = []
    run: list[tuple[str, int]] = []
    for word, start, end in idx.tokens(p.text) + [("", len(p.text) + 1, len(p.text) + 1)]:
        covered = any(pos in p.used for pos in range(start, end)) or _in_used_match(p, start)
        if is_han(word[:1] or "a") and not covered:
            if run and run[-1][1] != start - 1:
                unknown += _han_leftovers("".join(w for w, _ in run))
                run = []
            run.append((word, start))
            continue
        if run:
            unknown += _han_leftovers("".join(w for w, _ in run))
            run = []
        if not word or covered or word in EN_STOP:
            continue  # a number nothing used ("1 to 2 paragraphs") is not understood either
        unknown.append(word)
    return list(dict.fromkeys(unknown))


def _han_leftovers(run: str) -> list[str]:
    """Split a run of uncovered Chinese at stop words; what is left is not understood.

    >>> _han_leftovers("明年的会是多少")
    ['明年', '会']
    """
    left: list[str] = []
    current = ""
    i = 0
    while i < len(run):
        word = next((run[i:i + n] for n in (4, 3, 2) if run[i:i + n] in CN_STOP_WORDS), None)
        if word is None and run[i] in CN_STOP:
            word = run[i]
        if word is not None:
            if current:
                left.append(current)
                current = ""
            i += len(word)
        else:
            current += run[i]
            i += 1
    return left + ([current] if current else [])


def _in_used_match(p: Parse, pos: int) -> bool:
    return any(m.start <= pos < m.end and m.start in p.used for m in p.matches)


def repeated_mentions(p: Parse, intent: Intent) -> None:
    """"average track length in milliseconds": a second name for a column already used."""
    used = {f.column for f in intent.filters} | {g.column for g in intent.groups} | set(intent.show)
    used |= {ref for g in intent.groups for ref in g.extra}  # "the ids of documents with ..."
    if intent.measure and intent.measure.column:
        used.add(intent.measure.column)
    if intent.order_column:
        used.add(intent.order_column)
    for m in p.matches:
        if m.start not in p.used and {ColumnRef(t.table, t.column) for t in column_targets(m)} & used:
            p.use(m.start, m.end)


def translations(p: Parse) -> None:
    """"摇滚(Rock)": Chinese words glossing a matched value in parentheses."""
    for hit in re.finditer(r"([\u4e00-\u9fff]{1,6})\s*[(（]([^()（）]{1,40})[)）]", p.text):
        inner = range(hit.start(2), hit.end(2))
        if all(pos in p.used for pos in inner if not p.text[pos].isspace()):
            p.use(hit.start(), hit.end())
