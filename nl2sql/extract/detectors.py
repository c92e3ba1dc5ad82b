"""Fields computed without a model: personal-data mentions, by the governance scanner's
own detectors (:func:`nl2sql.governance.pii.find_all`), so ``extract`` works offline for them and
costs nothing. Deterministic: the same text always gives the same values.

=============  ========  ====================================================================
detector       type      value
=============  ========  ====================================================================
``pii.kinds``  list      the kinds found (phone, email, id_number, bank_card, ip_address,
                         address), sorted, each once
``pii.count``  integer   how many personal values the text holds
``pii.masked`` list      each value masked as the scanner shows it (138****5678)
``pii.any``    boolean   whether there is any
=============  ========  ====================================================================
"""

from __future__ import annotations

from typing import Any

from nl2sql.extract.spec import Spec
from nl2sql.governance import pii


def detect(spec: Spec, text: str) -> dict[str, Any]:
    """The values of every detector field of ``spec`` for ``text``."""
    if not spec.detected:
        return {}
    matches = pii.find_all(text)
    values: dict[str, Any] = {
        "pii.kinds": sorted({m.kind for m in matches}),
        "pii.count": len(matches),
        "pii.masked": [pii.mask(m.kind, m.text) for m in matches],
        "pii.any": bool(matches),
    }
    return {name: values[str(field.detector)] for name, field in spec.detected.items()}


def masked_text(text: str) -> str:
    """``text`` with every personal value masked (for showing samples to a person)."""
    out, last = [], 0
    for m in pii.find_all(text):
        if m.start < last:
            continue
        out += [text[last:m.start], pii.mask(m.kind, m.text)]
        last = m.end
    return "".join(out) + text[last:]
