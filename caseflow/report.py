"""Charts for the leadership report, as geometry the report template draws in SVG (so
the HTML file needs no script and no network). Pure: figures in, shapes out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from caseflow.measures import CATEGORY_LABELS

# The width of the report's page content in CSS pixels (its template's ``main``: 980 less
# the padding): every chart is drawn this wide, and scales with the page when printed.
PAGE_WIDTH = 932
# Where the report's period starts when no --since is given: the current school term.
TERM_STARTS = ((9, 1), (3, 1))  # (month, day), latest first
TERM_RULE = "统计期默认自统计截止日期所在学期的开学之日起（秋季学期9月1日，春季学期3月1日）"


def term_start(day: date) -> date:
    """The first day of the school term ``day`` falls in: 1 September or 1 March."""
    for month, first in TERM_STARTS:
        start = date(day.year, month, first)
        if start <= day:
            return start
    month, first = TERM_STARTS[0]
    return date(day.year - 1, month, first)


# One colour per case category, in the order they stack (worst first).
CATEGORY_COLOURS: Mapping[str, str] = {
    "dropout": "#c0392b",
    "missing": "#7b241c",
    "awaiting_placement": "#d4ac0d",
    "suspected": "#e67e22",
    "deferred": "#8e7cc3",
    "returned": "#2e86c1",
    "retained": "#27ae60",
    "closed": "#95a5a6",
}
FLOW_SERIES: tuple[tuple[str, str, str], ...] = (
    ("identified", "新发现", "#e67e22"),
    ("returned", "复学", "#2e86c1"),
    ("retained", "巩固销号", "#27ae60"),
)


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    fill: str
    title: str


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "start"


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    rects: tuple[Rect, ...]
    texts: tuple[Text, ...]
    legend: tuple[tuple[str, str], ...]  # (colour, label)
    axis: tuple[tuple[float, float, float, float], ...] = field(default=())  # lines


@dataclass(frozen=True)
class MonthFlows:
    month: date  # the first day
    identified: int = 0
    returned: int = 0
    retained: int = 0

    @property
    def label(self) -> str:
        return f"{self.month.year}年{self.month.month}月"


def cases_by_category(
    groups: Sequence[tuple[str, Mapping[str, int]]], width: int = PAGE_WIDTH
) -> Chart:
    """One horizontal bar per township, stacked by case category, ``width`` wide."""
    label_width, total_width, row, top = 110, 60, 30, 10
    bar_width = width - label_width - total_width
    largest = max((sum(counts.values()) for _, counts in groups), default=0) or 1
    rects: list[Rect] = []
    texts: list[Text] = []
    for index, (name, counts) in enumerate(groups):
        y = top + index * row
        texts.append(Text(label_width - 8, y + 16, name, "end"))
        x = float(label_width)
        for category, colour in CATEGORY_COLOURS.items():
            count = counts.get(category, 0)
            if not count:
                continue
            length = bar_width * count / largest
            title = f"{name} {CATEGORY_LABELS[category]}：{count}件"
            rects.append(Rect(x, y, length, row - 8, colour, title))
            x += length
        texts.append(Text(x + 6, y + 16, str(sum(counts.values()))))
    height = top + max(len(groups), 1) * row + 10
    legend = tuple((colour, CATEGORY_LABELS[c]) for c, colour in CATEGORY_COLOURS.items())
    return Chart(width, height, tuple(rects), tuple(texts), legend)


def flows_by_month(months: Sequence[MonthFlows], width: int = PAGE_WIDTH) -> Chart:
    """Identified, returned and retained per month, as grouped columns, ``width`` wide."""
    left, right, plot_height, top, bottom = 40, 20, 220, 10, 40
    group_width = (width - left - right) / max(len(months), 1)
    bar = (group_width - 12) / len(FLOW_SERIES)
    largest = max((getattr(m, key) for m in months for key, _, _ in FLOW_SERIES), default=0) or 1
    rects: list[Rect] = []
    texts: list[Text] = []
    base = top + plot_height
    for index, month in enumerate(months):
        x0 = left + index * group_width + 6
        for offset, (key, label, colour) in enumerate(FLOW_SERIES):
            value = getattr(month, key)
            height = plot_height * value / largest
            rects.append(
                Rect(
                    x0 + offset * bar,
                    base - height,
                    bar - 1,
                    height,
                    colour,
                    f"{month.label}{label}：{value}件",
                )
            )
        texts.append(
            Text(x0 + (group_width - 12) / 2, base + 16, f"{month.month.month}月", "middle")
        )
    texts.append(Text(left - 6, top + 10, str(largest), "end"))
    texts.append(Text(left - 6, base, "0", "end"))
    axis = ((left, base, width - 10, base), (left, top, left, base))
    legend = tuple((colour, label) for _, label, colour in FLOW_SERIES)
    return Chart(width, base + bottom, tuple(rects), tuple(texts), legend, axis)


def month_starts(end: date, count: int) -> list[date]:
    """The first days of the ``count`` months up to and including ``end``'s."""
    year, month = end.year, end.month
    starts = []
    for _ in range(count):
        starts.append(date(year, month, 1))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return starts[::-1]
