"""Charts: what ``choose`` picks, the terminal chart (plotext) and the PNG (matplotlib)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from nl2sql.errors import ConfigError
from nl2sql.interfaces import chart
from nl2sql.interfaces.chart import ChartSpec, choose, render_text, save_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ANSI = "\x1b["

MONTHLY = (["month", "sales"], ["VARCHAR", "DECIMAL(38,2)"],
           [(f"2024-{m:02d}", Decimal(f"{m * 1000}.50")) for m in range(1, 13)])
CITIES = (["city", "count"], ["VARCHAR", "BIGINT"],
          [("Shanghai", 332), ("Shenzhen", 302), ("Beijing", 250), ("Hangzhou", 120)])
CHINESE = (["城市", "订单数"], ["VARCHAR", "BIGINT"], [("上海", 332), ("深圳", 302), ("北京", 100)])


def many_numbers() -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    return (["name", "a", "b", "c", "d"], ["VARCHAR", "INTEGER", "DOUBLE", "HUGEINT", "BIGINT"],
            [("x", 1, 2.0, 3, 4)])


# ---------------------------------------------------------------- choose: guesses

GUESSES = [
    # (columns, types, rows) -> (kind, x, y)
    pytest.param(*MONTHLY, ("line", "month", ["sales"]), id="monthly-text"),
    pytest.param(["quarter", "order_count"], ["VARCHAR", "BIGINT"],
                 [("2023-Q1", 320), ("2023-Q2", 743)], ("line", "quarter", ["order_count"]),
                 id="quarterly-text"),
    pytest.param(["year", "sales"], ["BIGINT", "DECIMAL(38,2)"],
                 [(2023, Decimal("3407491.31")), (2024, Decimal("6955806.30"))],
                 ("line", "year", ["sales"]), id="year-integer"),
    pytest.param(["yr", "n"], ["VARCHAR", "BIGINT"], [("2023", 1), ("2024", 2)],
                 ("line", "yr", ["n"]), id="year-text"),
    pytest.param(["region", "day", "n"], ["VARCHAR", "DATE", "BIGINT"],
                 [("east", dt.date(2024, 1, 1), 3), ("east", dt.date(2024, 1, 2), 4)],
                 ("line", "day", ["n"]), id="date-before-text"),
    pytest.param(["month", "revenue"], ["TIMESTAMP WITH TIME ZONE", "DOUBLE"],
                 [(dt.datetime(2024, 1, 1, tzinfo=dt.UTC), 1.5)], ("line", "month", ["revenue"]),
                 id="timestamptz"),
    pytest.param(["d", "n"], [], [("2024-01-31", 1), ("2024-02-29", 2)], ("line", "d", ["n"]),
                 id="untyped-iso-dates"),
    pytest.param(*CITIES, ("bar", "city", ["count"]), id="categories"),
    pytest.param(["city", "count"], [], [("Shanghai", 3), ("Beijing", 2)],
                 ("bar", "city", ["count"]), id="untyped-categories"),
    pytest.param(["count", "city"], ["BIGINT", "VARCHAR"], [(3, "Shanghai")],
                 ("bar", "city", ["count"]), id="text-x-not-first"),
    pytest.param(["bucket", "n"], ["INTEGER", "BIGINT"], [(10, 3), (20, 5)],
                 ("bar", "bucket", ["n"]), id="numbers-only"),
    pytest.param(["code", "n"], ["VARCHAR", "BIGINT"], [("1234", 3), ("abcd", 5)],
                 ("bar", "code", ["n"]), id="not-all-years"),
    pytest.param(*many_numbers(), ("bar", "name", ["a", "b", "c"]), id="at-most-three-y"),
    pytest.param(["customer_id", "name", "total"], ["INTEGER", "VARCHAR", "DECIMAL(10,2)"],
                 [(1, "Ann", Decimal("9.50"))], ("bar", "name", ["total"]), id="ids-skipped"),
    pytest.param(["name", "customer_id"], ["VARCHAR", "INTEGER"], [("Ann", 1)],
                 ("bar", "name", ["customer_id"]), id="ids-when-nothing-else"),
    pytest.param(["city", "flag", "n"], ["VARCHAR", "BOOLEAN", "BIGINT"], [("a", True, 1)],
                 ("bar", "city", ["n"]), id="booleans-not-numbers"),
    pytest.param(*CHINESE, ("bar", "城市", ["订单数"]), id="chinese"),
]


@pytest.mark.parametrize(("columns", "types", "rows", "expected"), GUESSES)
def test_choose_guesses(columns: list[str], types: list[str], rows: list[tuple[Any, ...]],
                        expected: tuple[str, str, list[str]]) -> None:
    spec = choose(columns, types, rows)
    assert (spec.kind, spec.x, spec.y) == expected
    assert spec.title == f"{', '.join(spec.y)} by {spec.x}"


# ---------------------------------------------------------------- choose: explicit

EXPLICIT = [
    # (data, kind, x, y) -> (kind, x, y)
    pytest.param(CITIES, "line", None, None, ("line", "city", ["count"]), id="kind-line"),
    pytest.param(MONTHLY, "BAR", None, None, ("bar", "month", ["sales"]), id="kind-bar-any-case"),
    pytest.param(many_numbers(), None, "a", None, ("bar", "a", ["b", "c", "d"]), id="x-named"),
    pytest.param(many_numbers(), None, None, "d", ("bar", "name", ["d"]), id="y-string"),
    pytest.param(many_numbers(), "line", "a", ["d", "b"], ("line", "a", ["d", "b"]), id="all-named"),
    pytest.param(CITIES, None, "CITY", "Count", ("bar", "city", ["count"]), id="case-insensitive"),
]


@pytest.mark.parametrize(("data", "kind", "x", "y", "expected"), EXPLICIT)
def test_choose_honours_requests(data: tuple[list[str], list[str], list[tuple[Any, ...]]],
                                 kind: str | None, x: str | None, y: str | list[str] | None,
                                 expected: tuple[str, str, list[str]]) -> None:
    spec = choose(*data, kind=kind, x=x, y=y)
    assert (spec.kind, spec.x, spec.y) == expected


ERRORS = [
    pytest.param(CITIES, {"x": "foo"}, "unknown column `foo`; the result has: city, count",
                 id="unknown-x"),
    pytest.param(CITIES, {"y": ["count", "foo"]}, "unknown column `foo`; the result has: city, count",
                 id="unknown-y"),
    pytest.param((["a", "b"], ["VARCHAR", "DATE"], [("x", dt.date(2024, 1, 1))]), {},
                 "no numeric column to plot; the result has: a, b", id="no-numeric"),
    pytest.param(CITIES, {"x": "count"}, "no numeric column to plot; the result has: city, count",
                 id="only-number-is-x"),
    pytest.param((["city", "count"], ["VARCHAR", "BIGINT"], []), {},
                 "nothing to plot: the result is empty", id="empty"),
    pytest.param(CITIES, {"y": "city"}, "column `city` is not numeric; numeric columns: count",
                 id="y-not-numeric"),
    pytest.param(CITIES, {"kind": "pie"}, "unknown chart kind `pie`; use bar or line", id="bad-kind"),
    pytest.param((["city", "n"], ["VARCHAR", "BIGINT"], [("a", None), ("b", None)]), {},
                 "nothing to plot: n is NULL in every row", id="all-null"),
]


@pytest.mark.parametrize(("data", "request_", "message"), ERRORS)
def test_choose_errors(data: tuple[list[str], list[str], list[tuple[Any, ...]]],
                       request_: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        choose(*data, **request_)
    assert caught.value.message == message
    assert caught.value.kind == "config"


def test_title_says_when_bars_are_cut() -> None:
    rows = [(f"c{i}", i) for i in range(60)]
    assert choose(["c", "n"], ["VARCHAR", "BIGINT"], rows).title == "n by c (first 50 of 60 rows)"
    assert choose(["c", "n"], ["VARCHAR", "BIGINT"], rows, kind="line").title == "n by c"


# ---------------------------------------------------------------- terminal


def text(data: tuple[list[str], list[str], list[tuple[Any, ...]]], width: int = 80, height: int = 20,
         **request: Any) -> str:
    columns, types, rows = data
    return render_text(choose(columns, types, rows, **request), columns, rows, width, height)


@pytest.mark.parametrize("data", [CITIES, MONTHLY, many_numbers(), CHINESE],
                         ids=["bar", "line", "multi-bar", "chinese"])
@pytest.mark.parametrize(("width", "height"), [(80, 20), (40, 10), (120, 30)])
def test_render_text_size_and_no_ansi(data: tuple[list[str], list[str], list[tuple[Any, ...]]],
                                      width: int, height: int) -> None:
    out = text(data, width, height)
    assert len(out.splitlines()) == height
    assert ANSI not in out
    assert not out.endswith("\n")
    if data is not CHINESE:  # plotext counts a wide character as one cell
        assert {len(line) for line in out.splitlines()} == {width}


def test_render_text_shows_labels_title_and_axes() -> None:
    out = text(CITIES)
    for city in ("Shanghai", "Shenzhen", "Beijing", "Hangzhou", "count by city"):
        assert city in out
    assert "上海" in text(CHINESE) and "深圳" in text(CHINESE)
    assert "2024-01" in text(MONTHLY) and "2024-12" in text(MONTHLY)


def test_render_text_legend_tells_series_apart_without_color() -> None:
    out = text(many_numbers(), 80, 20)
    legend = [line for line in out.splitlines() if " a" in line or " b" in line or " c" in line]
    assert any("██ a" in line for line in legend)
    assert any("▒▒ b" in line for line in legend)
    assert any("░░ c" in line for line in legend)


def test_render_text_truncates_long_labels_and_thins_ticks() -> None:
    rows = [(f"a very long category name number {i}", i + 1) for i in range(60)]
    out = text((["name", "n"], ["VARCHAR", "BIGINT"], rows), 100, 20)
    assert "a very long cat…" in out
    assert "number" not in out
    assert "(first 50 of 60 rows)" in out


def test_render_text_skips_nulls() -> None:
    rows = [("2024-01", 1), ("2024-02", None), ("2024-03", 3)]
    out = text((["month", "n"], ["VARCHAR", "BIGINT"], rows))
    assert len(out.splitlines()) == 20
    bars = [("a", 1, None), ("b", None, None), ("c", 2, 5)]
    out = text((["k", "x", "y"], ["VARCHAR", "BIGINT", "BIGINT"], bars))
    assert "a" in out and "c" in out


def test_render_text_leaves_no_global_state() -> None:
    first = text(CITIES, 60, 15)
    text(MONTHLY, 100, 25, kind="bar")
    assert text(CITIES, 60, 15) == first
    import plotext

    left = plotext.build()
    plotext.clear_figure()
    assert left == plotext.build()  # the shared figure is as new: no data, size or theme left


def test_render_text_color_on_request() -> None:
    spec = choose(*CITIES)
    assert ANSI in render_text(spec, CITIES[0], CITIES[2], 60, 15, color=True)


def test_render_text_too_small() -> None:
    with pytest.raises(ConfigError, match="too small for a chart"):
        text(CITIES, 20, 5)


# ---------------------------------------------------------------- PNG


def read_png(path: Path) -> Any:
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return matplotlib.image.imread(path)


@pytest.mark.parametrize("data", [CITIES, MONTHLY, many_numbers(), CHINESE],
                         ids=["bar", "line", "multi-bar", "chinese"])
def test_save_png(tmp_path: Path, data: tuple[list[str], list[str], list[tuple[Any, ...]]]) -> None:
    columns, types, rows = data
    path = tmp_path / "chart.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing CJK font falls back silently
        assert save_png(choose(columns, types, rows), columns, rows, path) == path
    assert read_png(path).shape[:2] == (720, 1200)  # 6 × 10 inches at 120 dpi


def test_save_png_size_dpi_and_nulls(tmp_path: Path) -> None:
    rows = [(dt.datetime(2024, 1, d), None if d == 3 else Decimal(d)) for d in range(1, 31)]
    columns = ["day", "revenue"]
    spec = choose(columns, ["TIMESTAMP", "DECIMAL(10,2)"], rows)
    path = save_png(spec, columns, rows, tmp_path / "line.png", size=(8, 4.5), dpi=100)
    height, width = read_png(path).shape[:2]
    assert abs(width - 800) <= 2 and abs(height - 450) <= 2


def test_save_png_uses_an_installed_cjk_font(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    columns, types, rows = CHINESE
    spec = choose(columns, types, rows)
    plain = read_png(save_png(spec, columns, rows, tmp_path / "plain.png"))
    monkeypatch.setattr(chart, "CJK_FONTS", ("No Such Font", "DejaVu Serif"))
    serif = read_png(save_png(spec, columns, rows, tmp_path / "serif.png"))
    assert (plain != serif).any()  # the preferred installed font was used


def test_save_png_unwritable(tmp_path: Path) -> None:
    columns, types, rows = CITIES
    with pytest.raises(ConfigError, match="cannot write the chart to"):
        save_png(choose(columns, types, rows), columns, rows, tmp_path / "missing" / "c.png")


# ---------------------------------------------------------------- helpers


@pytest.mark.parametrize(("installed", "expected"), [
    (["DejaVu Sans", "WenQuanYi Zen Hei", "Noto Sans CJK SC"], "Noto Sans CJK SC"),
    (["DejaVu Sans", "SimHei"], "SimHei"),
    (["DejaVu Sans"], None),
])
def test_cjk_font(installed: list[str], expected: str | None) -> None:
    assert chart.cjk_font(installed) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (None, "NULL"),
    (Decimal("12.50"), "12.50"),
    (2.5, "2.5"),
    (2024, "2024"),
    (dt.date(2024, 3, 1), "2024-03-01"),
    (dt.datetime(2024, 3, 1), "2024-03-01"),
    (dt.datetime(2024, 3, 1, 12, 30), "2024-03-01 12:30:00"),
])
def test_label(value: Any, expected: str) -> None:
    assert chart.label(value) == expected


@pytest.mark.parametrize(("text_", "cells", "expected"), [
    ("Shanghai", 16, "Shanghai"),
    ("abcdefghij", 5, "abcd…"),
    ("上海市浦东新区", 7, "上海市…"),
])
def test_truncate(text_: str, cells: int, expected: str) -> None:
    assert chart.truncate(text_, cells) == expected


@pytest.mark.parametrize(("count", "room", "expected"), [
    (3, 10, [0, 1, 2]),
    (10, 4, [0, 3, 6, 9]),
    (50, 1, [0]),
])
def test_tick_indices(count: int, room: int, expected: list[int]) -> None:
    assert chart.tick_indices(count, room) == expected


def test_spec_is_plain_data() -> None:
    assert ChartSpec("bar", "city", ["n"], "n by city") == choose(["city", "n"], [], [("a", 1)])


def test_import_is_cheap() -> None:
    code = ("import sys, nl2sql.interfaces.chart; "
            "assert not {'plotext', 'matplotlib'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(("types", "kind", "x", "y"), [
    (["VARCHAR(20)", "DECIMAL(18, 2)"], "bar", "label", ["amount"]),
    (["NVARCHAR", "HUGEINT"], "bar", "label", ["amount"]),
    (["TIMESTAMP WITH TIME ZONE", "DOUBLE"], "line", "label", ["amount"]),
    (["DATETIME", "INT8"], "line", "label", ["amount"]),
])
def test_types_are_read_by_the_one_classifier(types: list[str], kind: str, x: str,
                                              y: list[str]) -> None:
    rows = [("a", 1), ("b", 2)]  # values that say nothing: the declared type decides
    spec = choose(["label", "amount"], types, rows)
    assert (spec.kind, spec.x, spec.y) == (kind, x, y)
