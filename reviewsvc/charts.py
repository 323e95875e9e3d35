"""Charts as server-rendered SVG: no script, no inline style, no third-party library.

The console's pages are under a CSP with no inline script or style, so a chart is markup the
server writes: shapes carry classes (coloured by the console's stylesheet) and presentation
attributes, every bar or column is a link to the filtered search it summarises, and each has a
``<title>`` so screen readers and hover show the exact figure. A table of the same numbers
stands beside each chart on the page for anyone who does not read charts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

BAR_HEIGHT = 22
BAR_GAP = 6
LABEL_WIDTH = 230
VALUE_WIDTH = 70


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    href: str


@dataclass(frozen=True)
class Column:
    """One time bucket: a stacked column of granted and denied counts."""

    label: str
    granted: int
    denied: int
    href: str


def _short(label: str, limit: int = 32) -> str:
    # The full label is in the bar's <title>; the axis shows what fits.
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _attr(value: str) -> str:
    return escape(value, quote=True)


def bar_chart(*, title: str, bars: Sequence[Bar], width: int = 560) -> str:
    """Horizontal bars, longest first as given; empty data draws a sentence, not an empty box."""
    if not bars:
        return f'<p class="chart-empty">{escape(title)}: nothing in this period.</p>'
    height = len(bars) * (BAR_HEIGHT + BAR_GAP)
    span = width - LABEL_WIDTH - VALUE_WIDTH
    top = max(bar.value for bar in bars) or 1
    parts = [
        f'<svg class="chart chart-bars" role="group" aria-label="{_attr(title)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{escape(title)}</title>",
    ]
    for index, bar in enumerate(bars):
        y = index * (BAR_HEIGHT + BAR_GAP)
        length = max(round(span * bar.value / top), 1 if bar.value else 0)
        parts.append(
            f'<a href="{_attr(bar.href)}"><title>{escape(bar.label)}: {bar.value}</title>'
            f'<text class="chart-label" x="0" y="{y + 15}">{escape(_short(bar.label))}</text>'
            f'<rect class="chart-bar" x="{LABEL_WIDTH}" y="{y}" width="{length}" height="{BAR_HEIGHT}"></rect>'
            f'<text class="chart-value" x="{LABEL_WIDTH + length + 6}" y="{y + 15}">{bar.value}</text></a>'
        )
    parts.append("</svg>")
    return "".join(parts)


def column_chart(*, title: str, columns: Sequence[Column], width: int = 720, height: int = 180) -> str:
    """Stacked columns over time: granted below, denied on top."""
    if not columns:
        return f'<p class="chart-empty">{escape(title)}: nothing in this period.</p>'
    axis = 20
    plot = height - axis
    slot = width / len(columns)
    column_width = max(slot * 0.7, 1.0)
    top = max(column.granted + column.denied for column in columns) or 1
    parts = [
        f'<svg class="chart chart-columns" role="group" aria-label="{_attr(title)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{escape(title)}</title>",
        f'<line class="chart-axis" x1="0" y1="{plot}" x2="{width}" y2="{plot}"></line>',
    ]
    label_every = max(len(columns) // 8, 1)
    for index, column in enumerate(columns):
        x = index * slot + (slot - column_width) / 2
        granted = plot * column.granted / top
        denied = plot * column.denied / top
        parts.append(
            f'<a href="{_attr(column.href)}"><title>{escape(column.label)}: {column.granted} granted, '
            f"{column.denied} denied</title>"
            f'<rect class="chart-granted" x="{x:.1f}" y="{plot - granted:.1f}" width="{column_width:.1f}" '
            f'height="{granted:.1f}"></rect>'
            f'<rect class="chart-denied" x="{x:.1f}" y="{plot - granted - denied:.1f}" width="{column_width:.1f}" '
            f'height="{denied:.1f}"></rect></a>'
        )
        if index % label_every == 0:
            parts.append(f'<text class="chart-tick" x="{x:.1f}" y="{height - 5}">{escape(column.label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
