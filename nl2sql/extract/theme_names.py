"""Names for themes: by the chat model when one is configured, else by distinctive words.

Words: each theme's texts are cut into words — Chinese by ``jieba`` (its dictionary, HMM
and part-of-speech tags: nouns and verbs kept; its cache file, which it reads back with
``marshal``, kept in nl2sql's own cache folder instead of the world-writable temporary
folder), other scripts at spaces and punctuation — and each word is weighed class-based
TF-IDF style (as BERTopic's c-TF-IDF): the share of the theme's texts that hold it ×
log(1 + mean texts per theme ÷ texts of all themes that hold it). The theme's name is its
three heaviest words. Words every theme shares (greetings, sign-offs) weigh nothing; a
word only one text of a theme uses is not a name.

Model: one request per theme with the theme's distinctive words and a few of its texts —
personal data already replaced by its kind (:func:`nl2sql.extract.prompt.redact`), fenced
as data like every extraction — through :class:`~nl2sql.extract.client.ExtractClient`,
the extraction's client (retries, Retry-After, structured output or JSON in text). A theme
the model cannot name keeps its words, and a note says so.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

WORDS_IN_NAME = 3
KEYWORDS = 8
MIN_TEXTS = 2  # a word must occur in this many texts of a theme to name it
EXAMPLES_TO_MODEL = 6
EXAMPLE_CHARS = 300

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_REDACTED = re.compile(r"\[[a-z_]+\]")  # [phone], [email]: a kind, not a topic

STOPWORDS = frozenset("""
a about after again all also am an and any are as at be because been before being but by
can could did do does doing don done for from get got had has have having he her here hers
him his how i if in into is it its just me might more most my no not now of off on once
only or other our out over please so some such than that the their them then there these
they this those to too up very was we were what when where which while who why will with
would yes you your yours ok okay thanks thank hello hi sure let well still
right look one keep actually afraid perfect sorry hear check need help today just got
get see know want like really also back please much many thing things way
的 了 是 我 你 您 他 她 它 们 吗 吧 啊 呢 呀 哦 嗯 和 与 及 就 都 也 在 有 这 那 个 一 不 没 很
请 请问 谢谢 好的 可以 没有 什么 怎么 一下 一个 这个 那个 我们 你们 您好 已经 还是 但是 因为 所以
如果 就是 还有 然后 现在 时候 知道 需要 帮您 帮我 麻烦 感谢 非常 真的 觉得 东西 这次 其他
我会 放心 查到 带来 情况 能到 内会 留意 处理 看看 问题 可能 应该 希望 告诉 联系 客户 坐席
""".split())


#: jieba's part-of-speech tags of the Chinese words a theme may be named by: nouns (not
#: person names, which are nobody's topic and may be personal), verbs and verbal nouns.
#: Adverbs, numerals, measure words, idioms and time words ("一定", "两天", "怎么办",
#: "月初") named themes of the sample's tickets before this filter.
CONTENT_TAGS = frozenset({"n", "nz", "ns", "nt", "nw", "vn", "v", "an"})


def _segmenter(cache_dir: Path) -> Any:
    """jieba's tokenizer, its cache file in ``cache_dir`` (created private)."""
    import logging

    import jieba

    folder = cache_dir / "jieba"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    jieba.dt.tmp_dir = str(folder)  # the part-of-speech tagger loads through jieba.dt
    return jieba.posseg.dt


def words(text: str, segmenter: Any) -> list[str]:
    """The content words of ``text``: Chinese segmented and tagged (nouns and verbs kept),
    others lower-cased, no stopwords, no single characters, no redaction tokens."""
    found: list[str] = []
    for token in _WORD.findall(_REDACTED.sub(" ", text)):
        if _CJK.fullmatch(token):
            found += [pair.word for pair in segmenter.lcut(token, HMM=True)
                      if len(pair.word) > 1 and pair.flag in CONTENT_TAGS
                      and pair.word not in STOPWORDS]
        else:
            word = token.lower()
            if len(word) > 2 and word not in STOPWORDS:
                found.append(word)
    return found


def distinctive(texts_by_theme: Sequence[Sequence[str]], cache_dir: Path,
                keywords: int = KEYWORDS) -> list[list[str]]:
    """Each theme's heaviest words, best first (see the module docstring)."""
    segmenter = _segmenter(cache_dir)
    per_theme: list[Counter[str]] = []
    for texts in texts_by_theme:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(set(words(text, segmenter)))
        per_theme.append(counts)
    overall: Counter[str] = Counter()
    for counts in per_theme:
        overall.update(counts)
    mean_texts = sum(len(t) for t in texts_by_theme) / max(1, len(texts_by_theme))
    result: list[list[str]] = []
    for texts, counts in zip(texts_by_theme, per_theme, strict=True):
        size = max(1, len(texts))
        floor = min(MIN_TEXTS, size)
        weights = {w: (c / size) * math.log(1 + mean_texts / overall[w])
                   for w, c in counts.items() if c >= floor}
        ranked = sorted(weights, key=lambda w: (-weights[w], w))
        result.append(_distinct(ranked)[:keywords])
    return result


def _distinct(ranked: list[str]) -> list[str]:
    """Drop a word contained in a heavier one ("物流" after "物流信息")."""
    kept: list[str] = []
    for word in ranked:
        if not any(word in other or other in word for other in kept):
            kept.append(word)
    return kept


def words_name(keywords: Sequence[str]) -> str:
    """A theme's name from its words.

    >>> words_name(["物流", "快递柜", "签收", "包裹"])
    '物流 / 快递柜 / 签收'
    >>> words_name([])
    '(no distinctive words)'
    """
    return " / ".join(keywords[:WORDS_IN_NAME]) or "(no distinctive words)"


# --------------------------------------------------------------------------------------
# by the chat model
# --------------------------------------------------------------------------------------


def naming_spec() -> Any:
    """The one-field spec the model fills for each theme."""
    from nl2sql.extract.spec import parse

    return parse({
        "name": "theme_name",
        "description": "A short name for the theme that a group of texts shares.",
        "fields": {"name": {
            "type": "string",
            "description": "A short, specific name (2 to 6 words) for what these texts are "
                           "about, in the language most of them are written in. Not a "
                           "sentence; no personal data."}}})


def theme_text(keywords: Sequence[str], examples: Sequence[str]) -> str:
    """What the model reads about one theme: its words and a few (redacted) texts."""
    from nl2sql.extract.prompt import redact

    shown = [" ".join(redact(e).split())[:EXAMPLE_CHARS] for e in examples[:EXAMPLES_TO_MODEL]]
    return ("Distinctive words: " + ", ".join(keywords) + "\nTexts of the theme:\n"
            + "\n".join(f"- {e}" for e in shown))


def model_names(themes: Sequence[tuple[Sequence[str], Sequence[str]]], settings: Any,
                client: Any = None) -> tuple[list[str | None], list[str]]:
    """The model's name for each theme ((keywords, examples) each), None where it gave
    none; and notes. ``client``: an :class:`ExtractClient` (tests inject one)."""
    return asyncio.run(_ask_all(themes, settings, client))


async def _ask_all(themes: Sequence[tuple[Sequence[str], Sequence[str]]], settings: Any,
                   client: Any) -> tuple[list[str | None], list[str]]:
    from nl2sql.errors import ModelError
    from nl2sql.extract import prompt, reply
    from nl2sql.extract.client import ExtractClient
    from nl2sql.extract.spec import validator

    spec = naming_spec()
    check = validator(spec)
    own = client is None
    if client is None:
        client = ExtractClient(api_key=settings.api_key or "not-needed", model=settings.model,
                               base_url=settings.base_url, timeout=settings.model_timeout,
                               retries=settings.model_retries)
    names: list[str | None] = []
    failed: list[str] = []
    try:
        for keywords, examples in themes:
            text = theme_text(keywords, examples)

            def chat(structured: bool, text: str = text) -> list[dict[str, str]]:
                return prompt.messages(spec, text, structured)

            try:
                answer = await client.complete(chat, spec)
            except ModelError as exc:
                names.append(None)
                failed.append(exc.message)
                continue
            values, _reason = reply.check(answer.content, check) if not answer.refusal \
                else (None, "refused")
            name = " ".join(str((values or {}).get("name") or "").split())[:80]
            names.append(prompt.redact(name) if name else None)
    finally:
        if own:
            await client.close()
    notes = []
    missing = sum(1 for n in names if n is None)
    if missing:
        why = f" ({failed[-1]})" if failed else ""
        notes.append(f"the model named {len(names) - missing} of {len(names)} themes; the "
                     f"others are named by their words{why}")
    return names, notes
