"""Experiments: scenarios run many times and what they show.

- `simulate`: one run of a scenario (`SimResult`)
- `replicate`: many runs on common random numbers, on any executor; `compare` with paired CIs
- one module per principle that builds scenario variants and measures them: `force_concentration` (01),
  `customer_orbits` (02), `remain_aggressive` (04), `forecast_discipline` (05), `bugs_in_evaluation` (06),
  `incentive_design` (07), `second_place` (09), `free_trials` (10), `sweet_spot` (11), `pareto_fractal` (12)
- a leader's own pipeline (13): `calibrate` (a scenario fitted to an export: `export_fit` reads what the export
  shows, `stage_fit` sets the stages by simulated moments), `validate`, `backtest`, `sensitivity`
"""
