"""The what-if explorer: sliders and an answer a sales leader can read, with no code.

- `levers`: what a leader can change, read from the scenario's fields and the policy registry
- `whatif`: the paired comparison against the starting scenario, its figure, a shareable HTML snapshot
- `app`: the ipywidgets page (`notebooks/whatif.ipynb`); `serve`: that page served by Voilà (`make whatif`)
"""
