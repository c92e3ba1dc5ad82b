"""Charts of a result: in the terminal (plotext) and as a PNG file (matplotlib).

``choose`` decides what to draw from the columns alone when the user does not say:
a time series (a DATE/TIMESTAMP column, or text such as ``2024``, ``2024-03``,
``2024-Q1``) becomes a line chart, categories a bar chart. ``render_text`` and
``save_png`` draw a ``ChartSpec``. Both plotting libraries are imported only
when a chart is drawn, so importing this module stays cheap.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nl2sql import column_types
from nl2sql.errors import ConfigError

KINDS = ("bar", "line")
MAX_Y = 3  # numeric columns plotted when none are named
MAX_BARS = 50  # bars drawn; the title says when rows were cut
TEXT_LABEL_CELLS = 16  # terminal cells for one category label
TEXT_BAR_WIDTH = 0.6  # of the room per bar: narrower than plotext's 0.8 keeps neighbours apart
PNG_LABEL_CHARS = 30
MIN_WIDTH, MIN_HEIGHT = 30, 8  # smallest terminal chart that stays readable

# Markers per series, so series stay apart without colors.
TEXT_BAR_MARKERS = ("sd", "▒", "░")
TEXT_LINE_MARKERS = ("hd", "•", "+")

# Fonts with CJK glyphs, most preferred first (Linux, macOS, Windows).
CJK_FONTS = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback", "AR PL UMing CN",
    "AR PL UKai CN", "PingFang SC", "Hiragino Sans GB", "Heiti SC", "STHeiti", "Songti SC",
    "Microsoft YaHei", "SimHei", "SimSun", "Noto Sans CJK JP", "Noto Sans CJK TC",
    "Arial Unicode MS",
)

_TIME_TEXT = re.compile(
    r"\d{4}(?:-(?:0[1-9]|1[0-2])(?:-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?)?|-Q[1-4])?"
)
_YEAR_NAME = re.compile(r"(?:.*_)?(?:year|yr)|年|年份|年度", re.IGNORECASE)
@dataclass
class ChartSpec:
    """What to draw: the chart kind, the x column, the y columns and a title."""

    kind: str
    x: str
    y: list[str]
    title: str


# ---------------------------------------------------------------- choosing


def choose(columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]],
           kind: str | None = None, x: str | None = None,
           y: str | Sequence[str] | None = None) -> ChartSpec:
    """The chart for a result; ``kind``, ``x`` and ``y`` override each guess.

    x: the named column, else the first temporal column, else the first text
    column, else the first column. y: the named columns, else every numeric
    column other than x (at most ``MAX_Y``). kind: the named one, else ``line``
    when x is temporal and ``bar`` otherwise.
    """
    if kind is not None and kind.lower() not in KINDS:
        raise ConfigError(f"unknown chart kind `{kind}`; use bar or line")
    if not rows:
        raise ConfigError("nothing to plot: the result is empty")
    columns = list(columns)
    cols = [_column(columns, types, rows, i) for i in range(len(columns))]
    xi = _resolve(columns, x) if x is not None else _default_x(cols)
    if y is None:
        yis = _default_y(cols, xi)
    else:
        yis = [_resolve(columns, name) for name in ([y] if isinstance(y, str) else y)]
        for i in yis:
            if not cols[i].numeric:
                raise ConfigError(f"column `{columns[i]}` is not numeric; "
                                  f"numeric columns: {_names([c.name for c in cols if c.numeric])}")
    if not yis:
        raise ConfigError(f"no numeric column to plot; the result has: {_names(columns)}")
    if all(_number(row[i]) is None for row in rows for i in yis):
        raise ConfigError(f"nothing to plot: {_names([columns[i] for i in yis])} "
                          "is NULL in every row")
    chosen = kind.lower() if kind else ("line" if cols[xi].temporal else "bar")
    y_names = [columns[i] for i in yis]
    return ChartSpec(chosen, columns[xi], y_names, _title(chosen, columns[xi], y_names, len(rows)))


@dataclass
class _Column:
    """What ``choose`` needs to know about one column."""

    name: str
    numeric: bool
    temporal: bool
    text: bool


def _column(columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]],
            i: int) -> _Column:
    """Classify column ``i`` by its declared type, falling back to its values."""
    type_name = types[i].strip() if i < len(types) else ""
    values = [row[i] for row in rows if row[i] is not None]
    numeric = _is_numeric(type_name, values)
    temporal = (column_types.is_temporal(type_name)
                or (bool(values) and all(isinstance(v, dt.date) for v in values))
                or (bool(values) and all(isinstance(v, str) and _TIME_TEXT.fullmatch(v.strip())
                                         for v in values))
                or (numeric and _is_year_column(columns[i], values)))
    text = column_types.is_text(type_name) or (
        not type_name and bool(values) and all(isinstance(v, str) for v in values))
    return _Column(columns[i], numeric, temporal, text)


def _is_numeric(type_name: str, values: Sequence[Any]) -> bool:
    """Numeric by declared type; by the values when the type says nothing (none given,
    or one the classifier does not know)."""
    if column_types.is_numeric(type_name):
        return True
    if type_name and column_types.kind_of(type_name) != "other":
        return False
    return bool(values) and all(_is_number(v) for v in values)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool)


def _is_year_column(name: str, values: Sequence[Any]) -> bool:
    """An integer column named like a year holding years (``YEAR(order_date) AS year``)."""
    return (bool(_YEAR_NAME.fullmatch(name.strip())) and bool(values)
            and all(_is_number(v) and v == int(v) and 1000 <= v <= 2999 for v in values))


def _resolve(columns: Sequence[str], name: str) -> int:
    """The index of column ``name``: exact match first, then case-insensitive."""
    if name in columns:
        return list(columns).index(name)
    folded = [i for i, c in enumerate(columns) if c.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    raise ConfigError(f"unknown column `{name}`; the result has: {_names(columns)}")


def _default_x(cols: Sequence[_Column]) -> int:
    for test in (lambda c: c.temporal, lambda c: c.text):
        for i, c in enumerate(cols):
            if test(c):
                return i
    return 0


def _default_y(cols: Sequence[_Column], xi: int) -> list[int]:
    """Numeric columns other than x; identifiers (``id``, ``*_id``) only when nothing else is."""
    numeric = [i for i, c in enumerate(cols) if c.numeric and i != xi]
    measures = [i for i in numeric if not _is_identifier(cols[i].name)]
    return (measures or numeric)[:MAX_Y]


def _is_identifier(name: str) -> bool:
    lowered = name.lower()
    return lowered == "id" or lowered.endswith("_id")


def _title(kind: str, x: str, y: Sequence[str], row_count: int) -> str:
    title = f"{', '.join(y)} by {x}"
    if kind == "bar" and row_count > MAX_BARS:
        title += f" (first {MAX_BARS} of {row_count} rows)"
    return title


def _names(names: Iterable[str]) -> str:
    return ", ".join(names) or "(none)"


# ---------------------------------------------------------------- values


@dataclass
class _Series:
    """The plotted data: x positions and labels, one list of y values per y column."""

    positions: list[float]
    labels: list[str]
    values: list[list[float | None]]


def _series(spec: ChartSpec, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> _Series:
    """The rows as numbers; bar charts keep the first ``MAX_BARS`` rows, as the SQL ordered them."""
    xi = _resolve(columns, spec.x)
    yis = [_resolve(columns, name) for name in spec.y]
    kept = list(rows[:MAX_BARS]) if spec.kind == "bar" else list(rows)
    if spec.kind == "bar":  # a bar with no value at all is no bar
        kept = [row for row in kept if any(_number(row[i]) is not None for i in yis)]
    xs = [row[xi] for row in kept]
    numeric_x = spec.kind == "line" and bool(xs) and all(_is_number(v) for v in xs)
    positions = [float(v) for v in xs] if numeric_x else [float(n) for n in range(1, len(xs) + 1)]
    return _Series(positions, [label(v) for v in xs], [[_number(row[i]) for row in kept] for i in yis])


def _number(value: Any) -> float | None:
    """A y value as a float; NULL, NaN, infinities and non-numbers as None."""
    if not _is_number(value):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def label(value: Any) -> str:
    """An x value as label text: ISO dates (midnight timestamps as dates), plain numbers."""
    if value is None:
        return "NULL"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time() and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def truncate(text: str, cells: int) -> str:
    """``text`` cut to ``cells`` terminal cells (CJK characters take two), ending in ``…``."""
    if _cells(text) <= cells:
        return text
    out, used = "", 1
    for char in text:
        width = _cells(char)
        if used + width > cells:
            break
        out += char
        used += width
    return out + "…"


def _cells(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def tick_indices(count: int, room: int) -> list[int]:
    """At most ``room`` evenly spaced indices out of ``count``, always the first and the last."""
    if count <= room:
        return list(range(count))
    if room <= 1:
        return [0]
    step = (count - 1) / (room - 1)
    return sorted({round(k * step) for k in range(room)})


# ---------------------------------------------------------------- terminal


def render_text(spec: ChartSpec, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                width: int, height: int, color: bool = False) -> str:
    """The chart as ``height`` lines of ``width`` cells, no trailing newline.

    Plain text unless ``color`` (for a terminal): series differ by marker, not
    only by color. plotext's one global figure is cleared before and after.
    """
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        raise ConfigError(f"too small for a chart: need at least {MIN_WIDTH}×{MIN_HEIGHT} "
                          f"characters, got {width}×{height}")
    import plotext as plt

    data = _series(spec, columns, rows)
    plt.clear_figure()
    try:
        plt.limitsize(False, False)  # exactly width × height, whatever the terminal is
        plt.plotsize(width, height)
        plt.theme("pro" if color else "clear")
        _draw_text(plt, spec, data, width)
        plt.title(spec.title)
        plt.xlabel(spec.x)
        if len(spec.y) == 1:
            plt.ylabel(spec.y[0])
        out = plt.build()
    finally:
        plt.clear_figure()
    if not color:
        out = plt.uncolorize(out)
    return str(out).removesuffix("\n")


def _draw_text(plt: Any, spec: ChartSpec, data: _Series, width: int) -> None:
    named = len(spec.y) > 1  # a legend only when there is more than one series
    if spec.kind == "bar" and data.positions:
        if named:
            filled = [[v if v is not None else 0.0 for v in values] for values in data.values]
            plt.multiple_bar(data.positions, filled, labels=spec.y,
                             marker=list(TEXT_BAR_MARKERS[:len(filled)]))
        else:
            plt.bar(data.positions, [v if v is not None else 0.0 for v in data.values[0]],
                    width=TEXT_BAR_WIDTH)
    elif spec.kind == "line":
        for n, (name, values) in enumerate(zip(spec.y, data.values, strict=True)):
            points = [(p, v) for p, v in zip(data.positions, values, strict=True) if v is not None]
            if points:
                plt.plot([p for p, _ in points], [v for _, v in points],
                         marker=TEXT_LINE_MARKERS[n % len(TEXT_LINE_MARKERS)],
                         label=name if named else None)
    labels = [truncate(text, TEXT_LABEL_CELLS) for text in data.labels]
    widest = max((_cells(text) for text in labels), default=1)
    picked = tick_indices(len(labels), max(1, (width - 10) // (widest + 2)))
    plt.xticks([data.positions[i] for i in picked], [labels[i] for i in picked])


# ---------------------------------------------------------------- PNG


def save_png(spec: ChartSpec, columns: Sequence[str], rows: Sequence[Sequence[Any]], path: Path,
             size: tuple[float, float] = (10.0, 6.0), dpi: int = 120) -> Path:
    """Write the chart to ``path`` as a ``size`` inch PNG at ``dpi``; returns ``path``.

    Uses matplotlib's ``Figure`` with the Agg canvas directly, never pyplot: no
    window, no backend switch in a host process, no figure left registered.
    Chinese labels use a CJK font when one is installed; otherwise glyphs are
    missing but the chart is still written, without warnings.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import fontManager
    from matplotlib.ticker import FuncFormatter

    data = _series(spec, columns, rows)
    font = cjk_font(f.name for f in fontManager.ttflist)
    style: dict[Any, Any] = {"axes.unicode_minus": False}
    if font:
        style["font.sans-serif"] = [font, *matplotlib.rcParams["font.sans-serif"]]
        style["font.family"] = "sans-serif"
    with matplotlib.rc_context(style), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from")
        figure = Figure(figsize=size, dpi=dpi)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        _draw_png(axes, spec, data)
        axes.set_title(spec.title)
        axes.set_xlabel(spec.x)
        if len(spec.y) == 1:
            axes.set_ylabel(spec.y[0])
        else:
            axes.legend()
        axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: tick_number(v)))
        axes.grid(axis="y", alpha=0.3)
        figure.tight_layout()
        try:
            figure.savefig(path, format="png", dpi=dpi)
        except OSError as exc:
            raise ConfigError(f"cannot write the chart to {path}: {exc.strerror or exc}") from exc
    return path


def _draw_png(axes: Any, spec: ChartSpec, data: _Series) -> None:
    labels = [text if len(text) <= PNG_LABEL_CHARS else text[:PNG_LABEL_CHARS - 1] + "…"
              for text in data.labels]
    if spec.kind == "bar":
        count = len(spec.y)
        bar_width = 0.8 / count
        for n, (name, values) in enumerate(zip(spec.y, data.values, strict=True)):
            offset = (n - (count - 1) / 2) * bar_width
            axes.bar([p + offset for p in data.positions],
                     [v if v is not None else math.nan for v in values], width=bar_width, label=name)
        axes.set_xticks(data.positions, labels, rotation=45, ha="right", rotation_mode="anchor")
        return
    for name, values in zip(spec.y, data.values, strict=True):
        points = [(p, v) for p, v in zip(data.positions, values, strict=True) if v is not None]
        axes.plot([p for p, _ in points], [v for _, v in points],
                  marker="o" if len(points) <= 40 else None, markersize=3, label=name)
    picked = tick_indices(len(labels), 15)
    axes.set_xticks([data.positions[i] for i in picked], [labels[i] for i in picked],
                    rotation=30, ha="right", rotation_mode="anchor")


def cjk_font(installed: Iterable[str]) -> str | None:
    """The most preferred font in ``CJK_FONTS`` among the ``installed`` font names, if any."""
    names = set(installed)
    return next((font for font in CJK_FONTS if font in names), None)


def tick_number(value: float) -> str:
    """An axis number: thousands separated, no needless decimals."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:g}"
