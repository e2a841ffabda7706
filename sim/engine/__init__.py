"""The simulator: SimPy processes that tell the story of a sales team, and the hooks policies plug into.

- `entities`: `Account`, `Lead`, `Deal`
- `conditions`, `leads`: the market's day-by-day conditions, and leads arriving from accounts
- `team`: reps (time is the constraint) and ramp-up; `desk`: a rep's desk, SimPy's `PriorityResource` made
  lighter (the one module that uses SimPy's private names)
- `truth`: each deal's hidden facts, and what its rep has learned of them
- `deal`: the deal process, and `DealRules`, the one place a stage's chance and time are put together
- `priority`: named queue levels, composed by rule
- `hooks`: the `Policy` settings / `PolicyRun` hook protocol, the policy registry and its ordering (`after`),
  and `ModelView` (what a hook may see)
- services a policy asks the model for: `activities` (the activity log), `costs` (the cost ledger),
  `streams` (random streams per deal or rep)
- `recorder`: the canonical tables built from a run
- `model`: `SalesModel`, which wires it all together and runs it, and `SimResult`, what a run produced

The engine reads `sim.world` settings and a list of policies; it never imports a concrete policy or the
scenario (`sim.scenario` sits above it).
"""
