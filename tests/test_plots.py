"""The shared figure pieces draw what their callers' captions say."""

from __future__ import annotations

from matplotlib.colors import same_color

from sim.analysis.plots import interval_rows, new_figure


def test_each_row_shows_its_mean_and_a_bar_from_its_low_to_its_high_end():
    fig, ax = new_figure()
    interval_rows(ax, [2.0, 5.0, 1.0], [1.0, 4.5, -3.0], [2.5, 9.0, 1.5], ["a", "b", "c"], "bookings [USD]", color="tab:red")
    dots = ax.lines[0]
    assert list(dots.get_xdata()) == [2.0, 5.0, 1.0] and list(dots.get_ydata()) == [0, 1, 2]
    bars = ax.collections[0].get_segments()                       # one horizontal segment per row
    assert [(s[0][0], s[1][0], s[0][1]) for s in bars] == [(1.0, 2.5, 0), (4.5, 9.0, 1), (-3.0, 1.5, 2)]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert ax.get_xlabel() == "bookings [USD]"
    assert same_color(dots.get_color(), "tab:red")                # the caller's style reaches the dots

