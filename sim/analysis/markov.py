"""The pipeline as an absorbing Markov chain: stages are the states a deal passes through, won and lost absorb.

Fitted from stage history (`fit_chain`): how often a stay in one stage led to another stage (forward, or
back, or skipping one), to a win or to a loss, and how long stays last on average. Stays still open at the
end of the export are censored: they count for neither. The closed form (`closed_form`) gives the chance
that a new deal is won and the expected days from creation to a win, with no simulation at all:

    N = (I - Q)^-1                      expected visits to each stage (Q: stage-to-stage chances)
    b = N r_won                         chance of ending won, from each stage
    cycle | won = N~ tau                with N~ from the chain conditioned on winning (Q~_ij = Q_ij b_j / b_i)
                                        and tau the mean days of a stay in each stage (Kaplan-Meier: stays
                                        still open count as lasting at least this long)

It assumes a stay lasts as long whatever it ends in, and that the next step depends only on the stage —
the simulator's deal story makes the same assumptions, which is why the two are compared (`sim.validate`).
An export without stage history is a one-stage chain: the win rate and the mean time to a win.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core.tables import Tables
from .fit import ONE_STAGE, has_history, stage_order, stays, window

WON, LOST = "won", "lost"


@dataclass(frozen=True)
class Chain:
    """An absorbing chain fitted from stays: counts, transition chances and mean stay per stage."""

    states: tuple[str, ...]    # the stages (transient states), in pipeline order
    counts: pd.DataFrame       # stays ending in each next state: rows = stages, columns = stages + won + lost
    start: np.ndarray          # share of deals whose first stay is in each stage
    mean_days: np.ndarray      # mean days of a stay in each stage (Kaplan-Meier, open stays censored)
    finished: np.ndarray       # finished stays behind each mean

    @property
    def transitions(self) -> pd.DataFrame:
        """Chances of each next state from each stage (rows sum to 1; a stage never left has none)."""
        totals = self.counts.sum(axis=1).replace(0, np.nan)
        return self.counts.div(totals, axis=0).fillna(0.0)

    @property
    def linear(self) -> bool:
        """True when deals only ever moved one stage forward (the simulator's deal story)."""
        c = self.counts.to_numpy()[:, : len(self.states)]
        return not any(c[i, j] for i in range(len(self.states)) for j in range(len(self.states)) if j != i + 1)


def km_mean(days: np.ndarray, finished: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean stay from stays some of which are still going (censored): the area under the Kaplan-Meier curve.

    Averaging only the finished stays would leave out the long ones still open at the end of the export.
    """
    days, finished = np.asarray(days, dtype=float), np.asarray(finished, dtype=bool)
    w = np.ones(len(days)) if weights is None else np.asarray(weights, dtype=float)
    keep = w > 0
    days, finished, w = days[keep], finished[keep], w[keep]
    if not finished.any():
        return float("nan")
    order = np.argsort(days, kind="stable")
    days, finished, w = days[order], finished[order], w[order]
    at_risk = w[::-1].cumsum()[::-1]
    survive = np.cumprod(np.where(finished, 1.0 - w / at_risk, 1.0))
    before = np.concatenate([[1.0], survive[:-1]])
    return float((before * np.diff(np.concatenate([[0.0], days]))).sum())


def fit_chain(tables: Tables, stages: list[str] | None = None, end: pd.Timestamp | None = None) -> Chain:
    """The chain of the tables' stage history (or a one-stage chain when they have none), as of `end`
    (default: the end of the tables' window)."""
    end = window(tables).end if end is None else pd.Timestamp(end)
    names = [ONE_STAGE] if not has_history(tables) else (stages or stage_order(tables))
    s = stays(tables, end, names if has_history(tables) else None).sort_values(["opportunity_id", "entered_at"], kind="stable")
    k = len(names)
    same = s["opportunity_id"].eq(s["opportunity_id"].shift(-1))
    nxt = s["index"].shift(-1)
    finished = s["fate"] != "open"
    target = np.where(same, nxt.fillna(-1).astype(int), np.where(s["fate"] == "passed", k, k + 1))
    counts = np.zeros((k, k + 2))
    np.add.at(counts, (s["index"].to_numpy()[finished.to_numpy()], target[finished.to_numpy()]), 1)
    first = s.drop_duplicates("opportunity_id")["index"].value_counts().reindex(range(k), fill_value=0).to_numpy(float)
    stage = s["index"].to_numpy()
    mean = [km_mean(s["days"].to_numpy()[stage == i], finished.to_numpy()[stage == i]) for i in range(k)]
    return Chain(
        states=tuple(names),
        counts=pd.DataFrame(counts, index=list(names), columns=[*names, WON, LOST]),
        start=first / first.sum() if first.sum() else first,
        mean_days=np.nan_to_num(np.array(mean)),
        finished=np.bincount(stage[finished.to_numpy()], minlength=k),
    )


def absorption(chain: Chain) -> pd.DataFrame:
    """Per stage: chance of ending won, expected days until won or lost, expected days until a win if won."""
    k = len(chain.states)
    p = chain.transitions.to_numpy()
    q, r_won = p[:, :k], p[:, k]
    n = np.linalg.inv(np.eye(k) - q)
    win = n @ r_won
    to_close = n @ chain.mean_days
    with np.errstate(invalid="ignore", divide="ignore"):
        q_won = np.where(win[:, None] > 0, q * win[None, :] / win[:, None], 0.0)
    if_won = np.linalg.inv(np.eye(k) - q_won) @ chain.mean_days
    return pd.DataFrame({"win_probability": win, "expected_days": to_close,
                         "expected_days_if_won": np.where(win > 0, if_won, np.nan)}, index=list(chain.states))


def closed_form(chain: Chain) -> dict[str, float]:
    """A new deal's chance of being won, and the expected days from its creation to a win."""
    a = absorption(chain)
    win = float(chain.start @ a["win_probability"].to_numpy())
    weights = chain.start * a["win_probability"].to_numpy()
    cycle = float(weights @ a["expected_days_if_won"].fillna(0).to_numpy() / weights.sum()) if weights.sum() else np.nan
    return {"win_probability": win, "expected_cycle_days": cycle, "expected_days_to_close": float(chain.start @ a["expected_days"].to_numpy())}


def closed_form_ci(tables: Tables, stages: list[str] | None = None, end: pd.Timestamp | None = None, b: int = 200,
                   seed: int = 0, confidence: float = 0.95) -> dict[str, tuple[float, float]]:
    """Intervals of `closed_form`'s figures: the chain refitted on `b` resamples of the export's deals."""
    end = window(tables).end if end is None else pd.Timestamp(end)
    names = [ONE_STAGE] if not has_history(tables) else (stages or stage_order(tables))
    s = stays(tables, end, names if has_history(tables) else None).sort_values(["opportunity_id", "entered_at"], kind="stable")
    k = len(names)
    deal = pd.factorize(s["opportunity_id"])[0]
    same = s["opportunity_id"].eq(s["opportunity_id"].shift(-1)).to_numpy()
    nxt = s["index"].shift(-1).fillna(-1).astype(int).to_numpy()
    done = (s["fate"] != "open").to_numpy()
    target = np.where(same, nxt, np.where(s["fate"].to_numpy() == "passed", k, k + 1))
    idx = s["index"].to_numpy()
    n = deal.max() + 1 if len(deal) else 0
    counts = np.zeros((n, k, k + 2))
    np.add.at(counts, (deal[done], idx[done], target[done]), 1)
    stay_days = s["days"].to_numpy()
    first = np.zeros((n, k))
    first[deal[~pd.Series(deal).duplicated().to_numpy()], idx[~pd.Series(deal).duplicated().to_numpy()]] = 1
    rng = np.random.default_rng(seed)
    draws = {"win_probability": [], "expected_cycle_days": []}
    for _ in range(b if n else 0):
        w = rng.multinomial(n, np.full(n, 1 / n))
        c = np.tensordot(w, counts, axes=1)
        finished = c.sum(axis=1)
        mean = [km_mean(stay_days[idx == i], done[idx == i], w[deal[idx == i]]) for i in range(k)]
        chain = Chain(tuple(names), pd.DataFrame(c, index=names, columns=[*names, WON, LOST]),
                      (w @ first) / max(w @ first.sum(axis=1), 1), np.nan_to_num(np.array(mean)), finished)
        with np.errstate(all="ignore"):
            cf = closed_form(chain)
        for key in draws:
            draws[key].append(cf[key])
    tail = (1 - confidence) / 2
    return {key: tuple(np.nanquantile(v, [tail, 1 - tail])) if v else (np.nan, np.nan) for key, v in draws.items()}
