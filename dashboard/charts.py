"""The dashboard's usage chart as SVG geometry, drawn on the server: readable without JavaScript,
with the same figures in a table beside it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from billing.costs import OPERATION_LABELS
from core.operations import Operation
from imaging.selectors import DailyUsage

# One colour per operation, in the order of Operation (colour-blind-safe Okabe-Ito palette).
OPERATION_COLOURS: dict[Operation, str] = dict(
    zip(Operation, ["#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7"], strict=False)
)
WIDTH, HEIGHT, PLOT_TOP, PLOT_BOTTOM, PLOT_LEFT = 720, 220, 12, 190, 40
LABEL_HALF_WIDTH = 16  # half an "MM-DD" day label at font-size 10


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str  # shown on hover, and read by screen readers


@dataclass(frozen=True)
class OperationTotal:
    operation: str
    label: str
    colour: str
    count: int
    credits: int


@dataclass(frozen=True)
class UsageChart:
    width: int
    height: int
    plot_left: int
    bars: list[Bar]
    gridlines: list[tuple[float, int]]  # (y, credits)
    day_labels: list[tuple[float, str]]  # (x, "MM-DD"), every fifth day
    totals: list[OperationTotal]
    total_credits: int
    total_count: int

    def svg_body(self) -> SafeString:
        """The chart's gridlines, bars and day labels as SVG markup. Built here rather than in
        the template: ~200 elements through template loops and filters cost more than the rest
        of /dashboard together (bench/dashboard.py)."""
        grid = format_html_join(
            "",
            '<line class="grid" stroke="#ccc" x1="{}" x2="{}" y1="{}" y2="{}"/>'
            '<text font-size="10" fill="currentColor" x="{}" y="{}" text-anchor="end" '
            'dominant-baseline="middle">{}</text>',
            (
                (
                    self.plot_left,
                    self.width,
                    f"{y:.1f}",
                    f"{y:.1f}",
                    self.plot_left - 6,
                    f"{y:.1f}",
                    value,
                )
                for y, value in self.gridlines
            ),
        )
        bars = format_html_join(
            "",
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
            (
                (f"{b.x:.1f}", f"{b.y:.1f}", f"{b.width:.1f}", f"{b.height:.1f}", b.colour, b.title)
                for b in self.bars
            ),
        )
        # A label centred on the last day would run past the chart's right edge: it ends there.
        labels = format_html_join(
            "",
            '<text font-size="10" fill="currentColor" x="{}" y="{}" text-anchor="{}">{}</text>',
            (
                (f"{min(x, self.width):.1f}", self.height - 14,
                 "end" if x + LABEL_HALF_WIDTH > self.width else "middle", label)
                for x, label in self.day_labels
            ),
        )  # fmt: skip
        return format_html("{}{}{}", grid, bars, labels)


def usage_chart(usage: list[DailyUsage], *, today: date, days: int) -> UsageChart:
    """Credits per day for the `days` days ending `today`, stacked by operation."""
    first = today - timedelta(days=days - 1)
    per_day: dict[date, list[DailyUsage]] = defaultdict(list)
    for row in usage:
        if row.day >= first:
            per_day[row.day].append(row)
    top = max([sum(r.credits for r in rows) for rows in per_day.values()] + [1])
    scale = (PLOT_BOTTOM - PLOT_TOP) / top
    slot = (WIDTH - PLOT_LEFT) / days
    bars, day_labels = [], []
    # Translated once, not per bar: a month has up to 180 bars.
    title_format = _("%(day)s · %(operation)s: %(credits)d credits, %(count)d tasks")
    labels = {op.value: str(OPERATION_LABELS[op]) for op in Operation}
    order = {op.value: index for index, op in enumerate(Operation)}
    for index in range(days):
        day = first + timedelta(days=index)
        x = PLOT_LEFT + index * slot
        y = float(PLOT_BOTTOM)
        for row in sorted(per_day.get(day, []), key=lambda r: order[r.operation]):
            if not row.credits:
                continue  # refunded work draws nothing
            height = row.credits * scale
            y -= height
            title = title_format % {
                "day": f"{day:%m-%d}",
                "operation": labels[row.operation],
                "credits": row.credits,
                "count": row.count,
            }
            colour = OPERATION_COLOURS[Operation(row.operation)]
            bars.append(Bar(x + 1, y, slot - 2, height, colour, title))
        if index % 5 == 0 or index == days - 1:
            day_labels.append((x + slot / 2, f"{day:%m-%d}"))
    gridlines = [(PLOT_BOTTOM - value * scale, value) for value in _ticks(top)]
    return UsageChart(
        width=WIDTH,
        height=HEIGHT,
        plot_left=PLOT_LEFT,
        bars=bars,
        gridlines=gridlines,
        day_labels=day_labels,
        totals=_totals(row for rows in per_day.values() for row in rows),
        total_credits=sum(r.credits for rows in per_day.values() for r in rows),
        total_count=sum(r.count for rows in per_day.values() for r in rows),
    )


def _ticks(top: int) -> list[int]:
    """Up to five round values from 0 to `top`."""
    step = max(1, top // 4)
    magnitude = 10 ** (len(str(step)) - 1)
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= step)
    return list(range(0, top + 1, step))


def _totals(rows: Iterable[DailyUsage]) -> list[OperationTotal]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        counts[row.operation][0] += row.count
        counts[row.operation][1] += row.credits
    return [
        OperationTotal(
            op.value, str(OPERATION_LABELS[op]), OPERATION_COLOURS[op], *counts[op.value]
        )
        for op in Operation
        if op.value in counts
    ]
