"""The one definition of what a phone, e-mail, ID or card number looks like inside text.

Two engines use these patterns: Python's ``re`` in the detectors
(:mod:`nl2sql.governance.pii_detect`, which judges values) and DuckDB's RE2 in the secure
view (:mod:`nl2sql.safety.policy.rewrite`, which replaces them by ``[phone]``-style tokens
for roles under ``redact_text``). They live here, at the bottom of the package, because
both layers must read the same text: a pattern changed for one changes for the other.

The patterns are written in the subset both engines share: no look-around, no
backreferences, explicit classes (``[0-9]``, never ``\\d`` or ``\\s``, which are
Unicode in Python and ASCII in RE2; ``\\b`` is the one shorthand, and RE2's ASCII word
boundary only finds more). What the engines do differently is kept outside the patterns:

* the detectors wrap each pattern in look-arounds (RE2 has none) so a number glued to a
  code (``SKU-13812345678``) is not reported, and then check what a pattern cannot
  (an ID's check digit, a card's Luhn sum);
* the redaction uses the bare patterns, so it hides every value the detectors report and
  some look-alikes as well: a superset is the safe side for hiding.

Both first fold full-width characters to ASCII (:data:`FOLD_FROM` → :data:`FOLD_TO`,
one character for one, so positions stay put): ``１３８１２３４５６７８`` and
``ＺＨＡＮＧ＠ＱＱ．ＣＯＭ`` are the same phone and e-mail to a person.
"""

from __future__ import annotations

#: Full-width digits, letters and the punctuation phones and e-mails use, and their ASCII.
FOLD_FROM = ("０１２３４５６７８９＠．－＋（）　"
             + "".join(chr(c) for c in range(ord("Ａ"), ord("Ｚ") + 1))
             + "".join(chr(c) for c in range(ord("ａ"), ord("ｚ") + 1)))
FOLD_TO = ("0123456789@.-+() "
           + "".join(chr(c) for c in range(ord("A"), ord("Z") + 1))
           + "".join(chr(c) for c in range(ord("a"), ord("z") + 1)))
FOLD = str.maketrans(FOLD_FROM, FOLD_TO)
#: A text holding any character that folding changes (folding is the costly step in SQL).
FULL_WIDTH = f"[{FOLD_FROM}]"

_D = "[0-9]"
#: Between the digit groups of a phone: one space, dash or dot ("138 1234 5678", "138.1234.5678").
_SEP = "[ .-]?"

EMAIL = (r"[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_-])?"
         r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?[.])+([A-Za-z]{2,24})")
#: Mainland mobile, with an optional +86 / 0086 prefix.
MOBILE = rf"(?:(?:[+]|00)86[ -]?)?1[3-9]{_D}(?:{_SEP}{_D}{{4}}){{2}}"
#: Mainland landline with its area code: 010-12345678, (021) 1234567, 0512-57956309-801.
LANDLINE = (rf"(?:[(]0(?:10|2{_D}|[3-9]{_D}{{2}})[)][ -]?|0(?:10|2{_D}|[3-9]{_D}{{2}})-)"
            rf"[2-9]{_D}{{6,7}}(?:-{_D}{{1,5}})?")
#: Any number written with its country code: +1 (555) 010-1234, +44 20 7946 0958.
INTERNATIONAL = rf"[+][1-9]{_D}{{0,2}}(?:[ .-]?(?:[(]{_D}{{1,4}}[)]|{_D}{{1,4}})){{2,5}}"
#: North-American style without a country code: (555) 010-1234, 555-010-1234.
NANP = rf"(?:[(][2-9]{_D}{{2}}[)][ .-]?|[2-9]{_D}{{2}}[.-]){_D}{{3}}[.-]{_D}{{4}}"
#: 18-character resident ID (region, birth date, sequence, check), blocks may be spaced.
ID_NUMBER = (rf"[1-9]{_D}{{5}}[ -]?(?:18|19|20){_D}{{2}}(?:0[1-9]|1[0-2])"
             rf"(?:0[1-9]|[12]{_D}|3[01])[ -]?{_D}{{3}}[0-9Xx]")
#: 13 to 19 digits, in groups of four or in one run.
BANK_CARD_GROUPED = rf"(?:{_D}{{4}}[ -]){{3,4}}{_D}{{1,7}}"
BANK_CARD_RUN = rf"{_D}{{13,19}}"

_CJK = "一-鿿"  # U+4E00-U+9FFF, written as characters: both engines read them in a class
#: A Chinese street address up to its house number (上海市浦东新区人民路100号) ...
ADDRESS_ZH_HEAD = (rf"(?:[{_CJK}]{{1,8}}?(?:省|自治区|市|区|县|镇|乡|街道))*"
                   rf"[{_CJK}0-9]{{1,10}}?(?:路|街|大道|大街|巷|胡同|弄)"
                   rf"{_D}{{1,5}}(?:-{_D}{{1,5}})?[号號]")
#: ... and its building, unit and room (3栋502室). The detectors put a look-ahead between
#: the two (``100号线`` is a metro line); the redaction hides those too.
ADDRESS_ZH_TAIL = rf"(?:{_D}{{1,4}}(?:栋|幢|号楼|单元|楼|层|室|-{_D}{{1,4}}))*"
STREET_WORDS = ("Road|Rd|Street|St|Avenue|Ave|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|"
                "Place|Pl|Terrace|Highway|Hwy|Parkway|Pkwy")
_S = r"[ \t\r\n]"
#: An English street address: 12 N Main Street, Apt 3, Springfield.
ADDRESS_EN = (rf"{_D}{{1,5}}[A-Za-z]?{_S}+(?:(?:[NSEW]|North|South|East|West)[.]?{_S}+)?"
              rf"(?:[A-Z][a-z]+{_S}+){{1,3}}(?:{STREET_WORDS})\b[.]?"
              rf"(?:,?{_S}+(?:Apt|Apartment|Suite|Unit|Flat|Room)[.]?{_S}*#?[0-9A-Za-z_]+)?"
              rf"(?:,{_S}+[A-Z][a-z']+(?:{_S}+[A-Z][a-z]+)?)?")

#: Patterns per kind (alternatives), for the kinds ``redact_text`` can hide.
PATTERNS: dict[str, tuple[str, ...]] = {
    "email": (EMAIL,),
    "id_number": (ID_NUMBER,),
    "bank_card": (BANK_CARD_GROUPED, BANK_CARD_RUN),
    "phone": (MOBILE, LANDLINE, INTERNATIONAL, NANP),
    "address": (ADDRESS_ZH_HEAD + ADDRESS_ZH_TAIL, ADDRESS_EN),
}
#: The kinds in the order the redaction replaces them: an e-mail first (its local part may
#: be a phone or a QQ number), an ID before a card (18 digits are both), a phone before an
#: address (an address's numbers are short), an address last.
REDACT_ORDER: tuple[str, ...] = ("email", "id_number", "bank_card", "phone", "address")
#: What every pattern above needs: an ``@`` or a ``+`` (e-mails, international numbers),
#: three digits in a row (IDs, cards, other phones), a house number (``100号``) or a street
#: word, or else a full-width character (folded, it may become any of these). A text
#: without it holds none of the kinds, so the redaction leaves it alone at the cost of one
#: quick scan (measured in benchmarks/bench_redaction.py).
CANDIDATE = f"[@+]|[0-9]{{3}}|[0-9][号號]|\\b(?:{STREET_WORDS})\\b|{FULL_WIDTH}"
#: The same for the kinds whose patterns cost most to run, on their own: the redaction runs
#: them only on texts that pass (an ``@``; a house number or a street word).
GATES: dict[str, str] = {
    "email": f"@|{FULL_WIDTH}",
    "address": f"[0-9][号號]|\\b(?:{STREET_WORDS})\\b|{FULL_WIDTH}",
}
#: What ``redact_text: all`` means.
REDACTABLE_KINDS: frozenset[str] = frozenset(REDACT_ORDER)


def token(kind: str) -> str:
    """What a value of ``kind`` is replaced by: ``[phone]``.

    >>> token("email")
    '[email]'
    """
    return f"[{kind}]"
