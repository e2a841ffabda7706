"""The bottom layer: data every other layer shares and nothing above it.

- `data`: `Data`, the base of every piece of scenario data (frozen, typos are errors, finite numbers only)
- `schema`: the canonical tables, declared once, validated with pandera; policies register their own tables
- `tables`: `Tables`, the canonical tables together, from a simulation or an export
- `metrics`: headline metrics of a pipeline, computed from tables
- `stats`: confidence intervals (t intervals, paired differences, the one Wilson interval)
- `periods`: period labels, bounds and calendars (the one home for "which quarter is this")
- `quota`: quotas and the attainment table

Nothing here imports from any other part of `sim`.
"""
