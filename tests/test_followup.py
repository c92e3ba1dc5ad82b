"""Follow-ups read by the offline drafter: the previous question with the new restriction."""

from __future__ import annotations

from typing import Any

import pytest

from nl2sql.drafting.offline.followup import refine_question


@pytest.mark.parametrize(("previous", "follow_up", "expected"), [
    ("How many orders per city?", "now only for 2024", "How many orders per city for 2024"),
    ("How many orders per city in 2023?", "now for 2024", "How many orders per city for 2024"),
    ("每个城市有多少客户？", "只看上海的", "每个城市有多少客户 上海的"),
    ("top 5 products by revenue", "top 10 instead", "top 10 products by revenue"),
    ("How many orders per city?", "break it down by channel",
     "How many orders per city by channel"),
    ("How many orders per city?", "Which products sell best?", None),
])
def test_refine_question(previous: str, follow_up: str, expected: str | None) -> None:
    assert refine_question(previous, follow_up) == expected


def test_a_value_of_the_same_column_replaces_the_old_one(sample_catalog: Any) -> None:
    refined = refine_question("How many customers in Shanghai?", "now for Beijing",
                              sample_catalog)
    assert refined is not None and "Beijing" in refined and "Shanghai" not in refined
