"""Server-rendered SVG charts: escaped labels, links per bar, nothing a strict CSP would block."""

from __future__ import annotations

from reviewsvc.charts import Bar, Column, bar_chart, column_chart


def test_bars_are_links_with_exact_titles_and_escaped_labels():
    svg = bar_chart(title="Plays", bars=[Bar('<script>"x"', 7, "/audit/events/?a=1&b=2"), Bar("b", 3, "/y")])
    assert svg.startswith('<svg class="chart chart-bars" role="group" aria-label="Plays"')
    assert '<a href="/audit/events/?a=1&amp;b=2"><title>&lt;script&gt;&quot;x&quot;: 7</title>' in svg
    assert "<script" not in svg
    assert "style=" not in svg
    assert svg.count("<rect ") == 2


def test_the_longest_bar_spans_the_plot_and_others_scale():
    svg = bar_chart(title="t", bars=[Bar("a", 10, "/"), Bar("b", 5, "/")], width=560)
    assert 'width="260" height="22"' in svg
    assert 'width="130" height="22"' in svg


def test_no_data_is_said_in_words():
    assert bar_chart(title="Plays", bars=[]) == '<p class="chart-empty">Plays: nothing in this period.</p>'
    assert column_chart(title="Events", columns=[]) == '<p class="chart-empty">Events: nothing in this period.</p>'


def test_columns_stack_denied_on_granted_and_title_both():
    svg = column_chart(
        title="Events", columns=[Column("01 Dec", 30, 10, "/a"), Column("02 Dec", 0, 0, "/b")], width=200, height=120
    )
    assert "<title>01 Dec: 30 granted, 10 denied</title>" in svg
    assert '<rect class="chart-granted" x="15.0" y="25.0" width="70.0" height="75.0"></rect>' in svg
    assert '<rect class="chart-denied" x="15.0" y="0.0" width="70.0" height="25.0"></rect>' in svg
