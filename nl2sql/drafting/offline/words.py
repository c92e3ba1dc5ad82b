"""Question words: aggregates, grouping, ordering, comparisons, dates, in English and Chinese.

These patterns read natural language, never SQL. Each yields a cue with its
character span so the drafter can tell which parts of a question it used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
             "八": 8, "九": 9}
EN_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
              "eight": 8, "nine": 9, "ten": 10, "twenty": 20, "a dozen": 12}
MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"], start=1)}
MONTHS.update({m[:3]: i for m, i in list(MONTHS.items())})
MONTHS["sept"] = 9


@dataclass(frozen=True)
class Cue:
    kind: str
    start: int
    end: int
    value: object = None


def cn_number(text: str) -> int | None:
    """Chinese numerals up to the ten-thousands: ``三十`` -> 30, ``1万`` -> 10000."""
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return int(text)
    if text.endswith("万"):
        head = cn_number(text[:-1]) if text[:-1] else 1
        return head * 10000 if head is not None else None
    total, current = 0, 0
    units = {"十": 10, "百": 100, "千": 1000}
    for ch in text:
        if ch in CN_DIGITS:
            current = CN_DIGITS[ch]
        elif ch in units:
            total += (current or 1) * units[ch]
            current = 0
        elif ch.isdigit():
            current = current * 10 + int(ch)
        else:
            return None
    return total + current


NUM = r"(\d[\d,]*(?:\.\d+)?(?:\s*(?:k|w|万|千|million|m)\b|\s*(?:万|千))?|[零一二两三四五六七八九十百千万]+|one|two|three|four|five|six|seven|eight|nine|ten|a dozen)"
UNIT = r"\s*(?:美元|美金|元|块|个|位|名|条|笔|次|分|星|件|单|天|小时|人|%)?"


def parse_number(text: str) -> float | None:
    raw = text.replace(",", "").replace(" ", "").lower()
    if raw in EN_NUMBERS:
        return float(EN_NUMBERS[raw])
    scale = 1
    if raw.endswith("million"):
        scale, raw = 1_000_000, raw[:-7]
    elif raw.endswith("m") and raw[:-1].replace(".", "").isdigit():
        scale, raw = 1_000_000, raw[:-1]
    if raw and raw[-1] in "kK千":
        scale, raw = 1000, raw[:-1]
    elif raw and raw[-1] in "wW万":
        scale, raw = 10000, raw[:-1]
    try:
        return float(raw) * scale
    except ValueError:
        value = cn_number(raw)
        return float(value * scale) if value is not None else None


_PATTERNS: list[tuple[str, str]] = [
    # aggregates
    ("count", r"\bhow many\b|\bnumber of\b|\bcount(?:s)?\b(?: of)?|\bhow much .{0,3}(?:are there)\b"),
    ("count", r"多少(?:个|位|名|条|笔|家|件|种|张|首|张|次|人|单)?|(?<!哪)几(?:个|位|名|条|笔|家|件|种|张|首|次|人|单)|数量|数目|个数|总数|计数|有几|(?<=[\u4e00-\u9fff])数(?![据量字值])"),
    ("distinct", r"\b(?:different|distinct|unique)\b|不同的?|多少种|几种"),
    ("sum", r"\b(?:total|sum of|sum|overall|combined|altogether)\b|总计|合计|总共|一共|总和|总的?|加起来"),
    ("avg", r"\b(?:average|avg|mean)\b|平均(?:值|数)?|均值"),
    ("max", r"\b(?:maximum|max|highest|largest|biggest|greatest|top)\b|最高|最大"),
    ("min", r"\b(?:minimum|min|lowest|smallest|least)\b|最低|最小"),
    ("most", r"\bmost\b|最多"),
    ("fewest", r"\bfewest\b|最少"),
    # grouping and series
    ("group", r"\b(?:by|per|for each|for every|each|every|in each|broken down by)\b|按照?|每一?个?|各个?|分|不同的?(?=\S{1,6}的)"),
    ("series_year", r"\b(?:by|per|each|every) year\b|\byearly\b|\bannual(?:ly)?\b|\byear by year\b|每年|按年|逐年|年度|哪一?年|\bwhich year\b"),
    ("series_month", r"\b(?:by|per|each|every) month\b|\bmonthly\b|\bmonth by month\b|每个?月|按月|逐月|月度|\btrend\b|趋势|\bover time\b|哪个月|哪一个月|\bwhich month\b"),
    ("series_quarter", r"\b(?:by|per|each|every) quarter\b|\bquarterly\b|每个?季度|按季度?|季度(?:趋势|变化)"),
    # ordering and limits
    ("top", r"\btop\s+" + r"(\d+|one|two|three|four|five|six|seven|eight|nine|ten)\b"),
    ("top", r"\bfirst\s+(\d+|two|three|four|five|six|seven|eight|nine|ten)\b"),
    ("top", r"\bwhich\s+(\d+|two|three|four|five|six|seven|eight|nine|ten)\b"),
    ("top", r"哪\s*(\d+|[两三四五六七八九十]+)\s*(?:个|名|位|款|家|条|种|笔|件|首)"),
    ("top", r"前\s*(\d+|[一二两三四五六七八九十]+)\s*(?:个|名|位|款|家|条|种|大)?"),
    ("top", r"\b(?:the\s+)?(\d+|two|three|four|five|six|seven|eight|nine|ten)\s+(?=(?:most|least|highest|lowest|best|worst|biggest|largest|smallest|cheapest|newest|latest|oldest|top)\b)"),
    ("top", r"(?<=[最的近早新贵晚长短])\s*(\d+|[一二两三四五六七八九十]+)\s*(?:个|名|位|款|家|条|种|笔|件|首|张|单)"),
    ("bottom", r"\bbottom\s+(\d+|one|two|three|four|five|six|seven|eight|nine|ten)\b"),
    ("bottom", r"后\s*(\d+|[一二两三四五六七八九十]+)\s*(?:个|名|位|款|家|条|种)?|倒数\s*(\d+|[一二三四五六七八九十]+)"),
    # comparisons (the number is group 1)
    ("gt", r"\b(?:older|taller|heavier|later) than\s*" + NUM),
    ("lt", r"\b(?:younger|shorter|lighter|earlier) than\s*" + NUM),
    ("gt", r"(?:\bmore than|\bover|\babove|\bgreater than|\bexceeding|\bhigher than|\blarger than|\bbigger than|>)\s*(?:rmb|¥|\$|￥|yuan)?\s*" + NUM),
    ("ge", r"(?:\bat least|\bno less than|>=)\s*(?:rmb|¥|\$|￥)?\s*" + NUM),
    ("lt", r"(?:\bless than|\bfewer than|\bunder|\bbelow|\blower than|\bcheaper than|\bsmaller than|<)\s*(?:rmb|¥|\$|￥)?\s*" + NUM),
    ("le", r"(?:\bat most|\bno more than|<=)\s*(?:rmb|¥|\$|￥)?\s*" + NUM),
    ("between", r"\bbetween\s+(?:rmb|¥|\$|￥)?\s*" + NUM + r"\s*(?:yuan|rmb)?\s+and\s+(?:rmb|¥|\$|￥)?\s*" + NUM),
    ("between", r"(?:在|介于)?\s*" + NUM + UNIT + r"\s*(?:到|至|-|~)\s*" + NUM + UNIT + r"\s*之间"),
    ("gt", r"(?:超过|大于|多于|高于|超出)\s*了?\s*" + NUM + UNIT),
    ("ge", r"(?:至少|不少于|不低于)\s*有?\s*" + NUM + UNIT),
    ("lt", r"(?:低于|少于|小于|不到|不足)\s*" + NUM + UNIT),
    ("le", r"(?:不超过|最多|至多|不高于)\s*" + NUM + UNIT),
    ("ge", NUM + UNIT + r"\s*(?:以上|及以上|或以上|或更多)"),
    ("le", NUM + UNIT + r"\s*(?:以下|及以下|或以下|或更少)"),
    ("ge", NUM + r"\s*(?:%|percent)?\s+(?:or more|or higher|or above|and above|or greater|plus)\b"),
    ("le", NUM + r"\s*(?:%|percent)?\s+(?:or less|or lower|or below|and below|or fewer)\b"),
    # an explicit order of the rows ("in descending order of age", "sorted by name")
    ("sort", r"\b(?:in\s+|by\s+)?(?:the\s+)?(ascending|descending|increasing|decreasing|reverse alphabetical|alphabetical|alphabetic)\s+(?:alphabetical\s+)?order\b(?:\s+(?:of|by)\b(?:\s+(?:the|their|its)\b)?)?"),
    ("sort", r"\b(?:order(?:ed)?|sort(?:ed)?|rank(?:ed)?|arranged?)\s+(?:them\s+|the\s+results?\s+|the\s+list\s+|it\s+|all\s+)?by\s+(?:the\s+|their\s+|its\s+)?"),
    ("sort_dir", r"(?:,\s*)?\b(?:in\s+)?(?:the\s+)?(ascending|descending|asc|desc|increasing|decreasing)(?:\s+order)?\b"),
    ("sort_range", r"\bfrom\s+(?:the\s+)?(oldest|youngest|highest|lowest|largest|smallest|most|least|high|low|big|small|large|old|young|latest|earliest|newest|best|worst|greatest|biggest)\s+to\s+(?:the\s+)?[a-z]+\b"),
    # share
    ("percent", r"\bpercent(?:age)?\b|\bshare\b|\bproportion\b|\bratio\b|\bfraction\b|%|占比|比例|百分比|比率|百分之几|百分之多少|率"),
    # listing
    ("list", r"\blist\b|\bshow(?: me)?\b|\bdisplay\b|\bgive me\b|\bwhich\b|\bwhat are\b|\bwho\b|\bfind\b|\breturn\b|\bgive\b|\btell me\b|列出|显示|列举|查看|查一下|给我|哪些|哪个|哪|谁"),
    # words that only join clauses ("分别" = respectively; longer than the 分 grouping cue)
    ("light", r"分别|各自"),
    # negation of a state ("still open", "未关闭")
    ("not", r"\bnot\b|\bstill\b|\bun(?=[a-z])|\bnever\b|\bwithout\b|\bno\b|未|没有|没|尚未|还没|仍|不"),
]
COMPILED = [(kind, re.compile(pattern)) for kind, pattern in _PATTERNS]

_DATE_PATTERNS: list[tuple[str, str]] = [
    ("quarter", r"\bq([1-4])\s*(?:of\s*)?((?:19|20)\d\d)\b"),
    ("quarter", r"\b((?:19|20)\d\d)\s*q([1-4])\b"),
    ("quarter_en", r"\b(first|second|third|fourth|1st|2nd|3rd|4th) quarter of ((?:19|20)\d\d)\b"),
    ("quarter_cn", r"((?:19|20)\d\d)\s*年?\s*(?:第)?\s*([一二三四1-4])\s*季度"),
    ("day_cn", r"((?:19|20)\d\d)\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]"),
    ("day_iso", r"\b((?:19|20)\d\d)-(\d{1,2})-(\d{1,2})\b"),
    ("half_cn", r"((?:19|20)\d\d)\s*年\s*(上|下)半年"),
    ("half_en", r"\b(first|second|1st|2nd) half of ((?:19|20)\d\d)\b"),
    ("half_en", r"\bh([12])\s*((?:19|20)\d\d)\b"),
    ("month_cn", r"((?:19|20)\d\d)\s*年\s*(\d{1,2}|[一二三四五六七八九十]+)\s*月(?:份)?"),
    ("month_iso", r"\b((?:19|20)\d\d)-(\d{1,2})\b"),
    ("month_en", r"\b(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?\s+(?:of\s+)?((?:19|20)\d\d)\b"),
    ("between_years", r"\b(?:between|from)\s+((?:19|20)\d\d)\s+(?:and|to|-)\s+((?:19|20)\d\d)\b"),
    ("between_years", r"((?:19|20)\d\d)\s*(?:年)?\s*(?:到|至|-)\s*((?:19|20)\d\d)\s*年?"),
    ("after_year", r"\b(?:after|since)\s+((?:19|20)\d\d)\b|((?:19|20)\d\d)\s*年(?:以后|之后|后)"),
    ("before_year", r"\bbefore\s+((?:19|20)\d\d)\b|((?:19|20)\d\d)\s*年(?:以前|之前|前)"),
    ("year", r"\b(?:in\s+|during\s+|for\s+)?((?:19|20)\d\d)\b|((?:19|20)\d\d)\s*年(?:度)?"),
]
DATE_COMPILED = [(kind, re.compile(p)) for kind, p in _DATE_PATTERNS]
QUARTER_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "1st": 1, "2nd": 2, "3rd": 3,
                 "4th": 4}


def number_word(text: str) -> int | None:
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    return EN_NUMBERS.get(text) or cn_number(text)


def find_cues(text: str) -> list[Cue]:
    """Every cue in the normalised question (cues may overlap; callers pick)."""
    cues: list[Cue] = []
    for kind, pattern in COMPILED:
        for m in pattern.finditer(text):
            cues.append(Cue(kind, m.start(), m.end(), _cue_value(kind, m)))
    return cues


def _cue_value(kind: str, m: re.Match[str]) -> object:
    groups = [g for g in m.groups() if g]
    if kind in ("top", "bottom"):
        return number_word(groups[0]) if groups else None
    if kind in ("sort", "sort_dir", "sort_range"):
        return groups[0] if groups else None
    if kind in ("gt", "ge", "lt", "le"):
        return parse_number(groups[0]) if groups else None
    if kind == "between" and len(groups) >= 2:
        low, high = parse_number(groups[0]), parse_number(groups[1])
        return (low, high) if low is not None and high is not None else None
    return None



def find_dates(text: str) -> list[Cue]:
    """Date filters: ``(kind, (year, part))`` cues, the most specific first, not overlapping."""
    found: list[Cue] = []
    taken: set[int] = set()
    for kind, pattern in DATE_COMPILED:
        for m in pattern.finditer(text):
            span = set(range(m.start(), m.end()))
            if span & taken:
                continue
            value = _date_value(kind, [g for g in m.groups() if g])
            if value is not None:
                taken |= span
                found.append(Cue(value[0], m.start(), m.end(), value[1]))
    return sorted(found, key=lambda c: c.start)


def _date_value(kind: str, g: list[str]) -> tuple[str, tuple[int, ...]] | None:
    if kind == "quarter":
        q, y = (g[0], g[1]) if len(g[0]) == 1 else (g[1], g[0])
        return "quarter", (int(y), int(q))
    if kind == "quarter_en":
        return "quarter", (int(g[1]), QUARTER_WORDS[g[0]])
    if kind == "quarter_cn":
        return "quarter", (int(g[0]), number_word(g[1]) or 0)
    if kind in ("month_cn", "month_iso"):
        month = number_word(g[1]) or 0
        return ("month", (int(g[0]), month)) if 1 <= month <= 12 else None
    if kind == "month_en":
        return "month", (int(g[1]), MONTHS[g[0]])
    if kind in ("day_cn", "day_iso"):
        year, month, day = int(g[0]), int(g[1]), int(g[2])
        return ("day", (year, month, day)) if 1 <= month <= 12 and 1 <= day <= 31 else None
    if kind == "half_cn":
        return "half", (int(g[0]), 1 if g[1] == "上" else 2)
    if kind == "half_en":
        half = 1 if g[0] in ("first", "1st", "1") else 2
        return "half", (int(g[1]), half)
    if kind == "between_years":
        return "years", (int(g[0]), int(g[1]))
    if kind == "after_year":
        return "after", (int(g[0]),)
    if kind == "before_year":
        return "before", (int(g[0]),)
    return "year", (int(g[0]),)
