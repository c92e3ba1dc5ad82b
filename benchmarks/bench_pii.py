"""Precision and recall of the personal-data scanner, per kind, on the labelled fixture.

Run::

    .venv/bin/python benchmarks/bench_pii.py               # the markdown table, ~1 s
    .venv/bin/python benchmarks/bench_pii.py --errors 5    # and up to 5 misjudged values per kind
    .venv/bin/python benchmarks/bench_pii.py --json out.json

Every entry of ``tests/fixtures/pii_values.yaml`` (a value, the kinds it holds — none
for a look-alike — and optionally the column name it is judged under) goes through
:func:`nl2sql.governance.pii.detect`; :func:`nl2sql.governance.pii.score` counts, per kind, true positives,
false positives (reported, not labelled) and false negatives (labelled, missed).
``tests/test_pii.py`` holds the floors on the same numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make nl2sql importable
    sys.path.insert(0, str(ROOT))

FIXTURE = ROOT / "tests" / "fixtures" / "pii_values.yaml"


def load(path: Path) -> list[dict[str, Any]]:
    """The labelled entries of a fixture file (``values:`` list)."""
    import yaml

    return list(yaml.safe_load(path.read_text(encoding="utf-8"))["values"])


def markdown(scores: dict[str, Any]) -> str:
    """Per-kind table plus a micro-averaged total, as GitHub markdown."""
    lines = ["| kind | labelled | tp | fp | fn | precision | recall |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for s in scores.values():
        lines.append(f"| `{s.kind}` | {s.tp + s.fn} | {s.tp} | {s.fp} | {s.fn} | "
                     f"{s.precision:.3f} | {s.recall:.3f} |")
    tp, fp, fn = (sum(getattr(s, k) for s in scores.values()) for k in ("tp", "fp", "fn"))
    lines.append(f"| all (micro) | {tp + fn} | {tp} | {fp} | {fn} | "
                 f"{tp / (tp + fp) if tp + fp else 1:.3f} | {tp / (tp + fn) if tp + fn else 1:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", type=Path, default=FIXTURE, help="labelled values (YAML)")
    parser.add_argument("--errors", type=int, default=0, metavar="N",
                        help="also list up to N false positives and negatives per kind")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the numbers here")
    args = parser.parse_args(argv)

    from nl2sql.governance import pii

    entries = load(args.fixture)
    started = time.perf_counter()
    scores = pii.score(entries)
    elapsed = time.perf_counter() - started
    look_alikes = sum(1 for e in entries if not e["kinds"])
    print(f"{args.fixture.name}: {len(entries)} values, {len(entries) - look_alikes} labelled "
          f"with a kind, {look_alikes} look-alikes; detect {elapsed * 1e6 / len(entries):.0f} µs "
          f"per value\n")
    print(markdown(scores))
    for s in scores.values():
        for label, values in (("false positive", s.false_positives),
                              ("false negative", s.false_negatives)):
            for value in values[:args.errors]:
                print(f"{s.kind} {label}: {value!r}")
    if args.json:
        args.json.write_text(json.dumps(
            {"fixture": str(args.fixture), "values": len(entries), "look_alikes": look_alikes,
             "kinds": {s.kind: {"tp": s.tp, "fp": s.fp, "fn": s.fn, "precision": s.precision,
                                "recall": s.recall} for s in scores.values()}},
            indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
