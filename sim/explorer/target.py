"""The explorer's "target" mode: enter a bookings target and a confidence, read P(hit) now and the options.

`TargetPanel(explorer).widget` sits on the explorer's page. It plans (`sim.plan`) from the scenario the page
shows now (the starting scenario with the levers as set), on the explorer's seed, serially in the kernel.
Each option comes with a button that sets the page's levers to it, so one click makes it the page's
scenario (and the explorer compares it with the start, as after any move of a lever). An option whose lever
is not one of the page's levers (`market.leads_per_month`) says so instead. Below the options, the honest
limit: P(hit) again at the ends of the range of the assumption the answer rests on most that no export shows
(`Plan.assumption_ends`: the attrition rate when the scenario runs attrition, else the reps' selling hours).
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import ipywidgets as w
import pandas as pd

from ..core.amounts import parse_amount, parse_share
from ..experiments.plan import SEARCH_PRECISION, Plan, plan
from ..scenario import ScenarioError

HELP_STYLE = "color:#555;font-size:0.85em;margin:-4px 0 6px 0"


def control_values(option: pd.Series, levers: list[Any], scenario_start: dt.date) -> dict[str, Any] | None:
    """The explorer's control settings that make an option the page's scenario ({control path: value}), or None
    when one of its levers is not a control on the page."""
    out: dict[str, Any] = {}
    for lv in levers:
        v = option[lv.path]
        if lv.hire_at is not None:
            if lv.hire_at.day != 1:            # the page offers hire dates at month starts only
                return None
            out["hire.count"], out["hire.at"] = int(v), lv.hire_at
        elif lv.path == "reps.count":
            out["reps.count"] = int(v)
        elif lv.path.startswith("policies.") and lv.path.count(".") == 2:
            out[lv.path.rsplit(".", 1)[0]] = True
            out[lv.path] = float(v)
        else:
            return None
    return out


def limits_html(p: Plan, executor: Any = None) -> str:
    """P(hit) of today's plan and of the cheapest option at the low and high ends of the assumption the answer
    rests on (`Plan.assumption_ends`), as a small table: how far the answer moves if that assumption is off."""
    ends = p.assumption_ends(executor=executor, precision=SEARCH_PRECISION)   # how far it moves: a coarser interval
    path = html.escape(str(ends.at[0, "assumption"]))
    rows = "".join(f"<tr><td>{html.escape(r.plan)}</td><td>{r.value:g}</td><td>{r.p_hit:.0%}</td>"
                   f"<td>{r.p_low:.0%} to {r.p_high:.0%}</td></tr>" for r in ends.itertuples())
    return (f"<div class='target-limits'><p>P(hit) is the model's. It rests on <code>{path}</code>, which no export "
            f"shows (assumed); at the ends of its range:</p><table><thead><tr><th>plan</th><th>{path}</th>"
            f"<th>P(hit)</th><th>95% CI</th></tr></thead><tbody>{rows}</tbody></table></div>")


class TargetPanel:
    """Target, period, confidence and levers in; P(hit) now and the cheapest options out, one click from use."""

    def __init__(self, explorer: Any):
        self.explorer = explorer
        self.plan: Plan | None = None
        year = str(explorer.start.start.year) if explorer.start is not None else ""
        style = {"description_width": "8rem"}
        self.target = w.Text(value="", placeholder="e.g. 7M", description="Target", style=style)
        self.period = w.Text(value=year, description="Within", style=style, tooltip="a year, 2027-Q1 or 2027-03")
        self.confidence = w.FloatSlider(value=0.8, min=0.5, max=0.99, step=0.01, description="Confidence",
                                        readout_format=".0%", style=style, continuous_update=False)
        self.levers = w.Text(value="reps.count", description="Levers", style=style,
                             tooltip="one to three: reps.count, hires@2026-03-01, policies.qualification.threshold")
        self.button = w.Button(description="What does it take?", icon="bullseye", layout=w.Layout(width="14rem"))
        self.answer = w.HTML()
        self.options = w.VBox()
        self.limits = w.HTML()
        self.button.on_click(lambda _: self.find())
        self.widget = w.VBox([
            w.HTML("<h3>Target</h3><p>How likely is the page's scenario to book a target, and what is the cheapest "
                   "change that makes it likely enough?</p>"),
            w.HBox([self.target, self.period]), w.HBox([self.confidence, self.levers]), self.button,
            w.HTML(f"<div style='{HELP_STYLE}'>Costs are the scenario's <code>costs.rep_per_year</code> and "
                   "<code>costs.lead</code>: assumed unless your scenario YAML sets them (the answer says which).</div>"),
            self.answer, self.options, self.limits])

    def find(self) -> Plan | None:
        """Plan from the page's current scenario; show P(hit) now and the options (or what is wrong)."""
        try:
            target = parse_amount(self.target.value)
            confidence = parse_share(str(self.confidence.value))
        except ValueError as err:
            self.answer.value = f"<p style='color:#a00'>{html.escape(str(err))}</p>"
            return None
        ex = self.explorer
        ex._stop_spare()                         # the page's idle runs give way to the search
        self.answer.value = "<p><em>Running…</em></p>"
        self.options.children = []
        self.limits.value = ""
        try:
            self.plan = plan(ex.current, target=target, period=self.period.value.strip(), confidence=confidence,
                             levers=[x.strip() for x in self.levers.value.split(",") if x.strip()], seed=ex.seed,
                             executor=ex.executor, max_n=ex.max_n, progress=False)
        except (ValueError, ScenarioError) as err:
            self.answer.value = f"<p style='color:#a00'>{html.escape(str(err))}</p>"
            return None
        p = self.plan
        lines = html.escape(p.summary()).replace("\n", "<br>")
        self.answer.value = f"<p class='target-answer'>{lines}</p>"
        rows: list[w.Widget] = []
        for i, option in p.options(5).iterrows():
            said = ", ".join(f"{lv.path} = {option[lv.path]:g}" for lv in p.levers)
            text = (f"{said}: P(hit) {option['p_hit']:.0%} ({option['p_low']:.0%}–{option['p_high']:.0%}), "
                    f"added cost {option['cost']:,.0f} {p.scenario.currency}")
            settings = control_values(option, p.levers, p.scenario.start)
            use = w.Button(description="Use this", icon="check", layout=w.Layout(width="8rem"),
                           disabled=settings is None, tooltip="" if settings else "not a lever on this page")
            use.on_click(lambda _, s=settings: self.use(s))
            rows.append(w.HBox([use, w.HTML(html.escape(text))]))
        self.options.children = rows
        self.limits.value = "<p><em>P(hit) at the ends of the main assumption…</em></p>"
        self.limits.value = limits_html(p, ex.executor)
        return p

    def use(self, settings: dict[str, Any] | None) -> None:
        """Set the page's levers to an option: it becomes the page's scenario (the explorer reruns its answer)."""
        if not settings:
            return
        controls = self.explorer.controls
        for path, value in settings.items():
            if path in controls:
                controls[path].value = value
