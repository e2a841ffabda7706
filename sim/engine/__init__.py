"""The simulator: SimPy processes that tell the story of a sales team, and the hooks policies plug into.

- `entities`: `Account`, `Lead`, `Deal`
- `conditions`, `leads`: the market's day-by-day conditions, and leads arriving from accounts
- `team`: reps, their desks (time is the constraint) and ramp-up
- `truth`: each deal's hidden facts, and what its rep has learned of them
- `deal`: the deal process, and `DealRules`, the one place a stage's chance and time are put together
- `priority`: named queue levels, composed by rule
- `hooks`: the `Policy` hook protocol, the policy registry and `ModelView` (what a hook may see)
- `recorder`: the canonical tables built from a run
- `model`: `SalesModel`, which wires it all together and runs it

The engine reads `sim.world` settings and a list of policies; it never imports a concrete policy or the
scenario (`sim.scenario` sits above it).
"""
