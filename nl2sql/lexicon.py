"""Words and names: split identifiers into parts and find them in questions.

Shared by context selection and the offline drafter. Chinese has no spaces,
so matching is by substring; English names are matched through their parts
(``BillingCountry`` -> ``billing country``, ``unit_price`` -> ``unit price``)
and singular/plural forms.
"""

from __future__ import annotations

import functools
import re
import unicodedata

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[a-z0-9]+|[\u4e00-\u9fff]+")


def name_parts(name: str) -> list[str]:
    """Lower-case parts of an identifier.

    >>> name_parts("InvoiceLineId")
    ['invoice', 'line', 'id']
    >>> name_parts("unit_price")
    ['unit', 'price']
    """
    spaced = _CAMEL.sub(" ", name).replace("_", " ").replace("-", " ")
    return [p for p in spaced.lower().split() if p]


_INVARIANT = {"does", "goes", "series", "species", "news", "yes", "this", "its", "has", "was",
              "whose", "always", "sometimes", "perhaps", "across", "less", "plus", "analysis",
              "status", "address", "gas", "bus"}


@functools.lru_cache(maxsize=65536)  # called for every word of every name matched
def singular(word: str) -> str:
    """A crude English singular: good enough for identifiers.

    >>> [singular(w) for w in ["categories", "boxes", "orders", "status", "cities", "ids", "statuses"]]
    ['category', 'box', 'order', 'status', 'city', 'id', 'status']
    """
    if word in ("ids", "pcs"):  # "document ids": too short for the rules below
        return word[:-1]
    if len(word) <= 3 or word.endswith(("ss", "us", "is")) or word in _INVARIANT:
        return word
    if word.endswith(("uses", "sses")):  # statuses, addresses
        return word[:-2]
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("xes", "ches", "shes", "sses")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def has_chinese(text: str) -> bool:
    """Whether ``text`` holds a Chinese character (the common CJK block): such a phrase is
    matched as a substring, having no spaces between its words.

    >>> has_chinese("每个城市"), has_chinese("city 上海"), has_chinese("city")
    (True, True, False)
    """
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def normalize(text: str) -> str:
    """Lower-case, full-width to half-width, collapse spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(text.split())


def words(text: str) -> list[str]:
    """English words (singular) and runs of Chinese characters in ``text``."""
    return [singular(w) for w in _WORD.findall(normalize(text))]


def phrase_of(name: str) -> str:
    """``BillingCountry`` -> ``billing country``."""
    return " ".join(singular(p) for p in name_parts(name))


def mentions(question: str, phrase: str) -> bool:
    """True when ``phrase`` occurs in ``question`` as whole words (substring for Chinese).

    >>> mentions("How many customers?", "customer")
    True
    >>> mentions("每个城市有多少客户", "客户")
    True
    >>> mentions("the scustomer", "customer")
    False
    """
    phrase = normalize(phrase)
    if not phrase:
        return False
    if has_chinese(phrase):
        return phrase in normalize(question)
    q_words = " " + " ".join(words(question)) + " "
    p_words = " " + " ".join(words(phrase)) + " "
    return p_words in q_words
