"""Personal values in one text: recognise them (``detect``, ``find_all``) and hide them (``mask``).

Kinds: ``phone`` (mainland mobile and landline, numbers with a country code, (555) 010-1234),
``email``, ``id_number`` (18-character PRC resident ID, check digit and date verified),
``bank_card`` (Luhn and prefix), ``ip_address`` (IPv4/IPv6), ``address`` (Chinese and English
street addresses), ``person_name`` and ``birth_date`` (the last two only with a column name
that suggests them).

Version strings: a bare dotted quad such as ``1.2.3.4`` *is* reported as an IPv4 address
(it is one, syntactically); it is not when marked as a version (``v1.2.3.4``,
``version 1.2.3.4``, ``版本1.2.3.4``), has leading zeros or more than four parts, or sits
in a column named like ``version``/``build``/``release``.

Pure functions of their arguments (no database, no files): the column scanner
(:mod:`nl2sql.governance.pii`), the extraction detectors and the prompt builder's redaction
all judge values here, and :func:`score` measures it on labelled values. The patterns of
the kinds ``redact_text`` hides come from :mod:`nl2sql.pii_patterns`, which the secure
view's redaction uses too; here they get look-arounds and checksum checks on top.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nl2sql import pii_patterns as patterns

KINDS = ("phone", "email", "id_number", "bank_card", "ip_address", "address", "person_name",
         "birth_date")
#: Kinds found by pattern anywhere in a value (also inside prose).
EMBEDDED_KINDS = ("phone", "email", "id_number", "bank_card", "ip_address", "address")

# --------------------------------------------------------------------------------------
# Value patterns
# --------------------------------------------------------------------------------------

# Not glued to a longer number, word or code ("SKU-13812345678", "6222 1381 2345 6789").
_NB = r"(?<![0-9A-Za-z_/#])(?<![0-9A-Za-z][-/.])(?<!\d )"
_NA = r"(?![0-9A-Za-z_])(?![-/.][0-9A-Za-z])(?! \d)"

MOBILE_RE = re.compile(_NB + patterns.MOBILE + _NA)
LANDLINE_RE = re.compile(_NB + patterns.LANDLINE + _NA)
INTERNATIONAL_RE = re.compile(_NB + patterns.INTERNATIONAL + _NA)
NANP_RE = re.compile(_NB + patterns.NANP + _NA)
EMAIL_RE = re.compile(r"(?<![A-Za-z0-9._%+@-])" + patterns.EMAIL
                      + r"(?![A-Za-z0-9-]|\.[A-Za-z0-9]|@)")
NOT_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "js", "css",
                      "txt", "html", "py", "md", "json", "xml", "pdf", "zip"})
ID_RE = re.compile(_NB + patterns.ID_NUMBER + _NA)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
#: First two digits of a PRC region code.
ID_PROVINCES = frozenset({"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33",
                          "34", "35", "36", "37", "41", "42", "43", "44", "45", "46", "50",
                          "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81",
                          "82"})
CARD_RE = re.compile("|".join(_NB + p + _NA for p in patterns.PATTERNS["bank_card"]))
IPV4_RE = re.compile(r"(?<![0-9A-Za-z.])(?<!version )(?<!ver )(?<!版本)(?<![vV])"
                     r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
                     r"(?![0-9A-Za-z]|\.\d)")
IPV6_RE = re.compile(r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}"
                     r"(?![0-9A-Za-z:]|\.\d)")
_CJK = r"\u4e00-\u9fff"
ADDRESS_ZH_RE = re.compile(patterns.ADDRESS_ZH_HEAD + "(?![线店码机])" + patterns.ADDRESS_ZH_TAIL)
ADDRESS_EN_RE = re.compile(r"(?<![0-9A-Za-z#])" + patterns.ADDRESS_EN)

COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
                     "宇文", "司徒", "夏侯", "令狐", "端木", "独孤")
SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万"
    "钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申耿关兰焦俞左柳甘祝包"
    "宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤"
    "阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师"
    "和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝")
#: Words that end common Chinese non-name strings which otherwise look like surname + 1-2.
NOT_NAME_ENDINGS = frozenset("省市区县镇乡村路街号店司厂局部院馆站场园楼室组队群类款型装器机品")
FIRST_NAMES = frozenset("""
james john robert michael william david richard joseph thomas charles christopher daniel
matthew anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy
ronald edward jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin scott
brandon benjamin samuel gregory alexander frank patrick raymond jack dennis jerry tyler aaron
jose adam nathan henry douglas zachary peter kyle ethan walter noah jeremy christian keith
roger terry gerald harold sean austin carl arthur lawrence dylan jesse jordan bryan billy joe
bruce gabriel logan albert willie alan juan wayne elijah randy roy vincent ralph eugene russell
bobby mason philip louis harry oliver leo max tom tim ben sam alex chris mike dave steve
mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty
margaret sandra ashley kimberly emily donna michelle carol amanda dorothy melissa deborah
stephanie rebecca sharon laura cynthia kathleen amy angela shirley anna brenda pamela emma
nicole helen samantha katherine christine debra rachel carolyn janet catherine maria heather
diane ruth julie olivia joyce virginia victoria kelly lauren christina joan evelyn judith megan
andrea cheryl hannah jacqueline martha gloria teresa ann sara madison frances kathryn janice
jean abigail alice judy sophia grace denise amber doris marilyn danielle beverly isabella
theresa diana natalie brittany charlotte marie kayla alexis lori lucy sophie chloe ella mia
ava amelia harper evelyn zoe lily claire kate jane anne rose ada alan grace
""".split())
PINYIN_SURNAMES = frozenset("""
wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he lin gao luo zheng liang
xie song tang han feng deng cao peng zeng xiao tian dong yuan pan yu jiang cai du ye cheng su
wei lv ding ren shen yao lu cui zhong tan fan jin shi liao jia xia fang bai zou meng xiong qin
qiu yin xue ouyang
""".split())
#: Second words that make "First Last" a thing, not a person ("Jean Jacket").
NOT_LAST_NAMES = frozenset("""
jacket jackets shirt dress tea coffee bank power charger case cover phone book books box set
kit pro max mini plus bag shoes hat street road avenue city store shop day week
""".split())

# --------------------------------------------------------------------------------------
# Column-name evidence
# --------------------------------------------------------------------------------------

NAME_HINTS: dict[str, re.Pattern[str]] = {
    "phone": re.compile(r"phone|mobile|cell|(^|_)tel(_|$)|telephone|contact_?no|手机|电话|联系方式"),
    "email": re.compile(r"e_?mail|mailbox|邮箱|邮件"),
    "id_number": re.compile(r"id_?(number|no|card|num)|identity|citizen|ssn|national_id|"
                            r"resident_id|身份证|证件"),
    "bank_card": re.compile(r"card_?(no|number|num)|bank_?card|(^|_)pan(_|$)|account_?(no|number)|"
                            r"银行卡|卡号"),
    "ip_address": re.compile(r"(^|_)ip(_|$)|ip_?addr|ipv[46]|remote_addr|client_addr"),
    "address": re.compile(r"address|(^|_)addr(_|$)|street|地址|住址"),
    "person_name": re.compile(r"^(full_?|first_?|last_?|given_?|family_?|sur|nick)?name$|"
                              r"(customer|user|person|contact|receiver|recipient|consignee|"
                              r"buyer|employee|agent|member|patient|student)_?name|"
                              r"姓名|名字|联系人|收件人|收货人"),
    "birth_date": re.compile(r"birth|(^|_)dob(_|$)|born|出生|生日"),
}
#: Names that say "these are not personal values", whatever the digits look like.
NOT_PII_NAMES = re.compile(r"order|sku|product|item|code|serial|(^|_)sn(_|$)|tracking|invoice|"
                           r"batch|version|(^|_)ver(_|$)|build|release|barcode|ean|isbn|"
                           r"订单|编号|型号|版本")
#: Kinds that a column name alone is allowed to report (no value evidence needed).
NAME_ONLY_KINDS = ("phone", "email", "id_number", "bank_card", "birth_date")


@dataclass(frozen=True)
class Match:
    """One personal value found inside a text: its kind and where it is."""

    kind: str
    start: int
    end: int
    text: str



# --------------------------------------------------------------------------------------
# Checks on single candidates
# --------------------------------------------------------------------------------------


def digits_of(text: str) -> str:
    """Only the digits of ``text`` (``X`` of an ID kept)."""
    return "".join(ch for ch in text if ch.isdigit() or ch in "Xx").upper()


def id_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 ID digits."""
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11]


def parse_date(text: str) -> dt.date | None:
    """A date from ``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYYMMDD``, ``YYYY年M月D日`` (time ignored)."""
    m = re.fullmatch(r"\s*(\d{4})(?:[-/.年](\d{1,2})[-/.月](\d{1,2})日?|(\d{2})(\d{2}))"
                     r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*", text)
    if not m:
        return None
    month, day = (m.group(2), m.group(3)) if m.group(2) else (m.group(4), m.group(5))
    try:
        return dt.date(int(m.group(1)), int(month), int(day))
    except ValueError:
        return None


def is_valid_id(text: str) -> bool:
    """An 18-character resident ID: known province, real past date, right check digit."""
    raw = digits_of(text)
    if len(raw) != 18 or raw[:2] not in ID_PROVINCES:
        return False
    born = parse_date(raw[6:14])
    if born is None or not dt.date(1900, 1, 1) <= born <= dt.date.today():
        return False
    return id_check_digit(raw[:17]) == raw[17]


def luhn_ok(number: str) -> bool:
    """The Luhn (mod 10) check of a digit string."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_prefix_ok(number: str) -> bool:
    """Issuer prefix and length plausible: Visa, Mastercard, Amex, JCB, Discover, UnionPay."""
    n = len(number)
    if number[0] == "4":
        return n in (13, 16, 19)
    if number[:2] in ("51", "52", "53", "54", "55") or 2221 <= int(number[:4]) <= 2720:
        return n == 16
    if number[:2] in ("34", "37"):
        return n == 15
    if number[:2] in ("35", "60", "62", "65", "81") or number[:3] in ("621", "622", "623"):
        return 16 <= n <= 19
    return False


def is_bank_card(text: str) -> bool:
    """13–19 digits (grouping allowed), a plausible issuer prefix and a valid Luhn sum."""
    number = "".join(ch for ch in text if ch.isdigit())
    return 13 <= len(number) <= 19 and card_prefix_ok(number) and luhn_ok(number) \
        and len(set(number)) > 2 and not is_id_shaped(number)


def is_id_shaped(number: str) -> bool:
    """18 digits laid out like a resident ID (province code, then a date): a mistyped ID
    rather than a card, even when its check digit or date is wrong."""
    return len(number) == 18 and number[:2] in ID_PROVINCES and bool(
        re.fullmatch(r"(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])", number[6:14]))


def is_ipv6(text: str) -> bool:
    """A real IPv6 address with at least three non-empty groups (not a time or a ratio)."""
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return sum(1 for g in text.split(":") if g) >= 3


# --------------------------------------------------------------------------------------
# Finding values
# --------------------------------------------------------------------------------------


def _overlaps(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in taken)


def _candidates(value: str) -> Iterable[Match]:
    """Every pattern hit in ``value`` that passes its kind's checks (may overlap).

    The patterns run over ``value`` with full-width characters folded to ASCII (one for
    one, so a span of the folded text is the same span of ``value``); a match's ``text``
    is what ``value`` holds there.
    """
    text = value.translate(patterns.FOLD)

    def hit(kind: str, start: int, end: int) -> Match:
        return Match(kind, start, end, value[start:end])

    for m in ID_RE.finditer(text):
        if is_valid_id(m.group()):
            yield hit("id_number", m.start(), m.end())
    for m in CARD_RE.finditer(text):
        if is_bank_card(m.group()):
            yield hit("bank_card", m.start(), m.end())
    for m in EMAIL_RE.finditer(text):
        if m.group(1).lower() not in NOT_TLDS:
            yield hit("email", m.start(), m.end())
    for regex in (MOBILE_RE, LANDLINE_RE):
        for m in regex.finditer(text):
            yield hit("phone", m.start(), m.end())
    for regex in (INTERNATIONAL_RE, NANP_RE):
        for m in regex.finditer(text):
            if 10 <= len(digits_of(m.group())) <= 15:  # E.164 allows 15; fewer is a code
                yield hit("phone", m.start(), m.end())
    for m in IPV4_RE.finditer(text):
        yield hit("ip_address", m.start(), m.end())
    for m in IPV6_RE.finditer(text):
        if is_ipv6(m.group()):
            yield hit("ip_address", m.start(), m.end())
    for m in ADDRESS_ZH_RE.finditer(text):
        yield hit("address", m.start() + _lead_in(m.group()), m.end())
    for m in ADDRESS_EN_RE.finditer(text):
        yield hit("address", m.start(), m.start() + len(m.group().rstrip(" ,.")))


LEAD_IN_RE = re.compile(r"^.*?(?:送到|寄到|发到|地址是|地址为|地址|住在|住址|是|在)")


def _lead_in(text: str) -> int:
    """How many leading characters of a Chinese address match are prose ("送到", "我地址是")."""
    m = LEAD_IN_RE.match(text)
    return m.end() if m and ADDRESS_ZH_RE.fullmatch(text[m.end():]) else 0


def find_all(value: str) -> list[Match]:
    """Personal values inside ``value``, without overlaps (earlier, stricter kinds win).

    >>> [m.kind for m in find_all("call 138-1234-5678 or mail z@qq.com")]
    ['phone', 'email']
    """
    found: list[Match] = []
    taken: list[tuple[int, int]] = []
    for match in _candidates(value):
        span = (match.start, match.end)
        if match.kind == "address" or not _overlaps(span, taken):
            found.append(match)
            taken.append(span)
    return sorted(found, key=lambda m: m.start)


def is_person_name(value: str) -> bool:
    """A Chinese name (known surname + 1–2 characters) or an English "First Last"."""
    text = value.strip()
    if re.fullmatch(rf"[{_CJK}]{{2,4}}", text):
        for surname in COMPOUND_SURNAMES:
            if text.startswith(surname):
                return 3 <= len(text) <= 4 and text[-1] not in NOT_NAME_ENDINGS
        return text[0] in SURNAMES and 2 <= len(text) <= 3 and text[-1] not in NOT_NAME_ENDINGS
    words = text.split()
    if len(words) not in (2, 3) or not all(re.fullmatch(r"[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?\.?", w)
                                            for w in words):
        return False
    first, last = words[0].lower(), words[-1].lower().rstrip(".")
    if last in NOT_LAST_NAMES:
        return False
    return first in FIRST_NAMES or first in PINYIN_SURNAMES or last in PINYIN_SURNAMES


def is_birth_date(value: str, today: dt.date | None = None) -> bool:
    """A date someone alive could have been born on: 0 to 120 years ago."""
    born = parse_date(value)
    today = today or dt.date.today()
    return born is not None and dt.date(today.year - 120, 1, 1) <= born <= today


def name_kinds(column: str) -> set[str]:
    """The kinds a column's name suggests (``customer_phone`` → phone)."""
    name = column.strip().lower()
    return {kind for kind, regex in NAME_HINTS.items() if regex.search(name)}


def detect(value: str, column: str | None = None) -> set[str]:
    """The kinds of personal data within one value.

    ``person_name`` and ``birth_date`` need context: they count only when ``column``
    (the column's name) suggests them.

    >>> sorted(detect("我电话是13812345678，地址上海市浦东新区人民路100号"))
    ['address', 'phone']
    >>> detect("110101199003071234"), detect("110101199003071233")
    (set(), {'id_number'})
    """
    kinds = {m.kind for m in find_all(value)}
    if column is not None:
        hinted = name_kinds(column)
        if "person_name" in hinted and is_person_name(value):
            kinds.add("person_name")
        if "birth_date" in hinted and is_birth_date(value):
            kinds.add("birth_date")
    return kinds


# --------------------------------------------------------------------------------------
# Masking
# --------------------------------------------------------------------------------------


def mask(kind: str, value: str) -> str:
    """``value`` with most of it hidden: 138****5678, z***@qq.com, 110101********123X.

    >>> mask("phone", "+86 138-1234-5678"), mask("email", "zhang.wei@qq.com")
    ('138****5678', 'z***@qq.com')
    >>> mask("id_number", "11010119900307123X"), mask("bank_card", "6222021234567890123")
    ('110101********123X', '6222***********0123')
    """
    text = value.strip()
    if kind == "phone":
        return _mask_phone(text)
    if kind == "email":
        local, _, domain = text.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if kind == "id_number":
        raw = digits_of(text)
        return raw[:6] + "*" * (len(raw) - 10) + raw[-4:] if len(raw) > 10 else "*" * len(raw)
    if kind == "bank_card":
        raw = digits_of(text)
        return raw[:4] + "*" * (len(raw) - 8) + raw[-4:] if len(raw) > 8 else "*" * len(raw)
    if kind == "ip_address":
        if ":" in text:
            return text.split(":")[0] + ":****"
        return ".".join(text.split(".")[:2]) + ".*.*"
    if kind == "address":
        return _mask_address(text)
    if kind == "person_name":
        return _mask_name(text)
    if kind == "birth_date":
        born = parse_date(text)
        return f"{born.year}-**-**" if born else "****-**-**"
    return "*" * len(text)


def _mask_phone(text: str) -> str:
    raw = digits_of(text)
    if raw.startswith("86") and len(raw) == 13:
        raw = raw[2:]
    if raw.startswith("0086") and len(raw) == 15:
        raw = raw[4:]
    if len(raw) == 11 and raw[0] == "1":
        return f"{raw[:3]}****{raw[-4:]}"
    area = re.match(r"\(?(0(?:10|2\d|[3-9]\d{2}))", text)
    if area and len(raw) >= 10:
        return f"{area.group(1)}-****{raw[-4:]}"
    return "*" * max(len(raw) - 4, 0) + raw[-4:]


def _mask_address(text: str) -> str:
    zh = re.match(rf"(?:[{_CJK}]{{1,8}}?(?:省|自治区|市|区|县))+", text)
    if zh:
        return zh.group() + "****"
    if re.search(rf"[{_CJK}]", text):
        return text[:2] + "****"
    return re.sub(r"\d", "*", text)


def _mask_name(text: str) -> str:
    if re.fullmatch(rf"[{_CJK}]+", text):
        keep = 2 if text[:2] in COMPOUND_SURNAMES else 1
        return text[:keep] + "*" * (len(text) - keep)
    return " ".join(w[:1] + "***" for w in text.split())


# --------------------------------------------------------------------------------------
# Precision and recall on labelled values
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KindScore:
    """How ``detect`` did on one kind over a labelled set (with the values it got wrong)."""

    kind: str
    tp: int
    fp: int
    fn: int
    false_positives: tuple[str, ...] = ()
    false_negatives: tuple[str, ...] = ()

    @property
    def precision(self) -> float:
        """Share of reported values that hold the kind (1.0 when nothing was reported)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """Share of values holding the kind that were reported (1.0 when there were none)."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def score(entries: Iterable[dict[str, Any]]) -> dict[str, KindScore]:
    """Per-kind true/false positives and false negatives of ``detect`` on labelled entries.

    Each entry is ``{"value": ..., "kinds": [...], "column": optional name}`` as in
    ``tests/fixtures/pii_values.yaml``; one place computes this so the test that holds the
    floors and ``benchmarks/bench_pii.py`` that prints the table cannot drift apart.

    >>> s = score([{"value": "13812345678", "kinds": ["phone"]}, {"value": "ORD13812345678", "kinds": []}])
    >>> s["phone"].tp, s["phone"].fp, s["phone"].fn
    (1, 0, 0)
    """
    tp = dict.fromkeys(KINDS, 0)
    fps: dict[str, list[str]] = {kind: [] for kind in KINDS}
    fns: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for entry in entries:
        value = str(entry["value"])
        expected = set(entry["kinds"])
        got = detect(value, column=entry.get("column"))
        for kind in KINDS:
            if kind in expected and kind in got:
                tp[kind] += 1
            elif kind in got:
                fps[kind].append(value)
            elif kind in expected:
                fns[kind].append(value)
    return {kind: KindScore(kind, tp[kind], len(fps[kind]), len(fns[kind]),
                            tuple(fps[kind]), tuple(fns[kind])) for kind in KINDS}
