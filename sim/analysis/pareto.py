"""Principle 12, the fractal 80/20: a few customers bring most of the business, and the rule repeats inside itself.

If the top 20% of customers bring 80% of revenue and the rule is fractal, the top 4% (20% of 20%) bring
64% and the top 0.8% bring 51%. Here: the concentration curve of revenue by account, the shares of the
top 20%, 4% and 0.8% against that prediction (and against the self-similar prediction s, s², s³ from
this data's own top-20% share s), a Pareto tail index, the product x customer cross where products
exist and complaint concentration where complaints exist. The what-if (reps who spend their time on the
biggest deals first vs in arrival order) is `sim.experiments.pareto_fractal`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.schema import MissingColumns, require
from ..core.tables import Tables
from .plots import new_figure

TOPS = (0.2, 0.04, 0.008)
FRACTAL_80_20 = {0.2: 0.8, 0.04: 0.64, 0.008: 0.512}


def revenue_by_account(tables: Tables) -> pd.Series:
    """Won amount per account, largest first (accounts with no win are left out)."""
    opp = tables.opportunities
    require(opp, ["account_id", "amount", "outcome"], "revenue by account")
    won = opp[(opp["outcome"] == "won") & opp["account_id"].notna() & (opp["amount"] > 0)]
    if won.empty:
        raise MissingColumns("revenue by account", ["amount (no won deal with an account and an amount)"])
    return won.groupby("account_id")["amount"].sum().sort_values(ascending=False).rename("revenue")


def concentration_curve(values: pd.Series) -> pd.DataFrame:
    """Share of the total held by the top x share of holders, from (0, 0) to (1, 1), largest first."""
    v = np.sort(np.asarray(values, dtype=float))[::-1]
    v = v[v > 0]
    if len(v) == 0:
        raise ValueError("no positive values to measure concentration on")
    x = np.concatenate([[0.0], np.arange(1, len(v) + 1) / len(v)])
    y = np.concatenate([[0.0], np.cumsum(v) / v.sum()])
    return pd.DataFrame({"holder_share": x, "value_share": y})


def share_of_top(values: pd.Series, top: float) -> float:
    """Share of the total held by the top `top` fraction of holders (interpolated between holders)."""
    curve = concentration_curve(values)
    return float(np.interp(top, curve["holder_share"], curve["value_share"]))


def top_shares(values: pd.Series, tops: tuple[float, ...] = TOPS) -> pd.DataFrame:
    """Per top fraction: holders it covers, its share, the 80/64/51% fractal prediction, and the self-similar one.

    The self-similar prediction takes this data's own top-20% share s and predicts s**k for the top
    0.2**k — the fractal claim without assuming the 80.
    """
    n = int((np.asarray(values, dtype=float) > 0).sum())
    s20 = share_of_top(values, 0.2)
    rows = []
    for top in tops:
        k = round(np.log(top) / np.log(0.2))
        rows.append({"top": top, "holders": top * n, "share": share_of_top(values, top),
                     "fractal_80_20": FRACTAL_80_20.get(top, 0.8**k), "self_similar": s20**k})
    return pd.DataFrame(rows).set_index("top")


def tail_index(values: pd.Series, tail: float = 0.2) -> float:
    """Hill estimate of the Pareto tail index alpha from the top `tail` share of holders (>= 5 of them).

    80/20 corresponds to alpha = 1.16; a smaller alpha means more concentration.
    """
    v = np.sort(np.asarray(values, dtype=float))[::-1]
    v = v[v > 0]
    k = max(5, int(tail * len(v)))
    if len(v) <= k:
        return float("nan")
    logs = np.log(v[:k]) - np.log(v[k])
    return float(1.0 / logs.mean())


def implied_top_share(alpha: float, top: float = 0.2) -> float:
    """Top-`top` share a Pareto distribution with tail index alpha > 1 predicts: top ** (1 - 1/alpha)."""
    return float(top ** (1 - 1 / alpha)) if alpha > 1 else 1.0


def fractal_check(values: pd.Series, tolerance: float = 0.1) -> dict:
    """Does the fractal hold? Shares of the top 20/4/0.8% against both predictions; `holds` within `tolerance`."""
    shares = top_shares(values)
    gap_fixed = float((shares["share"] - shares["fractal_80_20"]).abs().max())
    gap_self = float((shares["share"] - shares["self_similar"]).abs().max())
    alpha = tail_index(values)
    return {
        "holders": int((np.asarray(values, dtype=float) > 0).sum()),
        "top_20": shares.loc[0.2, "share"], "top_4": shares.loc[0.04, "share"], "top_0_8": shares.loc[0.008, "share"],
        "max_gap_to_80_64_51": gap_fixed, "max_gap_to_self_similar": gap_self,
        "holds_80_20": gap_fixed <= tolerance, "holds_self_similar": gap_self <= tolerance,
        "tail_index": alpha, "tail_implied_top_20": implied_top_share(alpha) if np.isfinite(alpha) else np.nan,
    }


def product_customer_cross(opportunities: pd.DataFrame, product: str = "product") -> dict:
    """The products that pay most (top 20% of products by won revenue), and how concentrated their buyers are.

    Returns the products' revenue table, the share of revenue the top 20% of products bring, and the share
    of those products' revenue that comes from the top 20% of their customers.
    """
    opp = opportunities
    require(opp, [product, "account_id", "amount", "outcome"], "product x customer cross")
    won = opp[(opp["outcome"] == "won") & (opp["amount"] > 0) & opp[product].notna()]
    by_product = won.groupby(product)["amount"].sum().sort_values(ascending=False)
    n_top = max(1, int(np.ceil(0.2 * len(by_product))))
    top_products = list(by_product.index[:n_top])
    buyers = won[won[product].isin(top_products) & won["account_id"].notna()].groupby("account_id")["amount"].sum()
    table = pd.DataFrame({"revenue": by_product, "share": by_product / by_product.sum()})
    table["top_20pct_product"] = table.index.isin(top_products)
    return {
        "products": table,
        "top_products": top_products,
        "top_products_share": float(by_product.iloc[:n_top].sum() / by_product.sum()),
        "their_customers": len(buyers),
        "top_20pct_customers_share_of_those_products": share_of_top(buyers, 0.2) if len(buyers) else np.nan,
    }


def complaint_concentration(accounts: pd.DataFrame) -> pd.DataFrame:
    """Shares of complaints from the top 20/4/0.8% of complaining accounts (where complaints are recorded)."""
    require(accounts, ["account_id", "complaints"], "complaint concentration")
    return top_shares(accounts.set_index("account_id")["complaints"].fillna(0))


# ---- figures -------------------------------------------------------------------------------------------------
def figure_concentration(values: pd.Series, title: str = "How concentrated is revenue across accounts?"):
    """Concentration curve (top x% of accounts hold y% of revenue) with the 80/64/51% fractal points marked."""
    curve = concentration_curve(values).iloc[1:]
    shares = top_shares(values)
    fig, ax = new_figure(figsize=(7, 4.5))
    ax.plot(curve["holder_share"] * 100, curve["value_share"] * 100, color="tab:blue", lw=2, label="this data")
    x = np.logspace(np.log10(0.5), 2, 50)
    ax.plot(x, x, color="grey", lw=1, ls=":", label="every account equal")
    tops = np.array(list(FRACTAL_80_20)) * 100
    ax.scatter(tops, np.array(list(FRACTAL_80_20.values())) * 100, color="tab:red", marker="x", s=60, zorder=3,
               label="fractal 80/20: 20%→80%, 4%→64%, 0.8%→51%")
    ax.scatter(shares.index * 100, shares["share"] * 100, color="tab:blue", s=30, zorder=3, label="this data at 20/4/0.8%")
    ax.set_xscale("log")
    ax.set_xlim(0.5, 100)
    ax.set_ylim(0, 100)
    ax.set_xticks([0.8, 4, 20, 100], ["0.8", "4", "20", "100"])
    ax.set_xlabel("top share of accounts, largest first [%, log scale]")
    ax.set_ylabel("share of won revenue [%]")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def concentration_headline(check: dict) -> str:
    """The fractal check in one sentence: the top 20% and 4% shares against the 80% and 64% the rule predicts."""
    return (f"The top 20% of accounts bring {check['top_20']:.0%} of won revenue (the 80/20 rule says 80%) and the "
            f"top 4% bring {check['top_4']:.0%} (the fractal says 64%, or {check['top_20'] ** 2:.0%} from this "
            f"data's own top-20% share).")
