"""Follow-up questions for the offline drafter: "now only for 2024" after "How many
orders per city?" reads as one question. The model drafter gets the conversation instead.
"""

from __future__ import annotations

import re
from typing import Any

# Follow-ups: "now only for 2024", "break it down by channel", "只看上海的".
FOLLOW_UP = re.compile(
    r"^(?:(?:and|but|ok|okay|now|then|also|what about|how about|same for|same but|"
    r"only|just|instead|again)\b[\s,]*)+|^(?:那么?|再|只看|只要|仅看|换成|改成|改为|然后|那)",
    re.IGNORECASE)


def refine_question(previous: str, follow_up: str, catalog: Any = None) -> str | None:
    """The previous question with the follow-up's restriction added, for the offline
    drafter (the model gets the conversation instead). None when it is a new question.

    >>> refine_question("How many orders per city?", "now only for 2024")
    'How many orders per city for 2024'
    >>> refine_question("每个城市有多少客户？", "只看上海的")
    '每个城市有多少客户 上海的'
    """
    from nl2sql.drafting.offline.words import find_dates

    text = follow_up.strip()
    lowered = text.lower()
    starts = FOLLOW_UP.match(lowered)
    breakdown = re.match(r"^(?:now\s+)?(?:break (?:it|that|this) down|split (?:it|that))\s+", lowered)
    narrowing = re.match(r"^(?:top|bottom|first)\s+\w+|^(?:前|后)\s*\d|^(?:by|per|for|in)\s|^按",
                         lowered)
    if not starts and not breakdown and not narrowing:
        return None
    if breakdown:
        rest = text[breakdown.end():]
    else:
        rest = text[starts.end():] if starts else text
    base = previous.strip().rstrip("?？。.!")
    if find_dates(rest.lower()):  # "now for 2023": the new date replaces the old one
        for cue in sorted(find_dates(base.lower()), key=lambda c: -c.start):
            base = (base[:cue.start] + base[cue.end:]).strip()
    base = _replace_limits(base, rest)
    if catalog is not None:
        base = _replace_values(base, rest, catalog)
    rest = re.sub(r"[\s,]*(?:instead|please|then|呢|吧)[?？.。!]*$", "", rest.strip())
    if re.match(r"^(?:top|bottom|first)\s|^(?:前|后)\s*\d", rest.lower()):
        return f"{rest} {base}".strip()  # "top 10" reads before what it ranks
    return f"{base} {rest}".strip()


def _replace_limits(base: str, rest: str) -> str:
    """"top 10 instead": a new top-N replaces the old one."""
    from nl2sql.drafting.offline.words import find_cues

    if not any(c.kind in ("top", "bottom") for c in find_cues(rest.lower())):
        return base
    for cue in sorted((c for c in find_cues(base.lower()) if c.kind in ("top", "bottom")),
                      key=lambda c: -c.start):
        base = (base[:cue.start] + base[cue.end:]).strip()
    return base


def _replace_values(base: str, rest: str, catalog: Any) -> str:
    """"now for Beijing" after "... in Shanghai": a value of the same column replaces it."""
    from nl2sql.drafting.offline import index_for
    from nl2sql.drafting.offline.index import find
    from nl2sql.lexicon import normalize

    index = index_for(catalog)
    new_columns = {(t.table, t.column) for m in find(rest, index) if m.kind == "value"
                   for t in m.targets if t.kind == "value"}
    text = normalize(base)
    for m in sorted(find(base, index), key=lambda m: -m.start):
        columns = {(t.table, t.column) for t in m.targets if t.kind == "value"}
        if m.kind == "value" and columns & new_columns:
            text = (text[:m.start] + text[m.end:]).strip()
    return text if text != normalize(base) else base
