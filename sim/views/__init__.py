"""Views: the sentences, tables-as-read and figures made from an experiment's data, one module per principle.

Experiments (`sim.experiments`) run scenarios and return data (DataFrames, dicts of numbers); a view turns that
data into what a leader reads: a headline with its interval, a table with the intervals written out, a figure
with a title that says what to see. Notebooks and the report call both; a view never runs a simulation.
The layer sits above `experiments` (see the contracts in `pyproject.toml`).

- `customer_orbits` (02), `incentive_design` (07)
"""
