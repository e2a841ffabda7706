"""Accounts that live on: a customer keeps coming back with business and sends others our way.

Once an account signs its first deal it gets a process of its own, which outlives every deal::

    while it is a customer:
        some time passes (exponential, at the world's rates per customer and year)
        it brings a new deal (repeat business), or refers a new account of its segment

Each account draws from a random stream of its own (made from the run's seed and the account's number),
so an account's comings and goings do not shift anyone else's: common random numbers hold across
scenarios whatever the order in which accounts were won. Policies (orbits, nurture) can stop an account
(`Account.lost`) or send leads for it themselves (`LeadFactory.lead_for`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import simpy

from ..world.accounts import AccountSettings
from .entities import Account, Lead
from .leads import LeadFactory


class AccountStreams:
    """One random stream per account, the same for the same account number whatever happens in between."""

    def __init__(self, rng: np.random.Generator):
        self._key = int(rng.integers(2**63))

    def of(self, account: Account) -> np.random.Generator:
        return np.random.default_rng([self._key, account.number])


def customer_life(env: simpy.Environment, account: Account, settings: AccountSettings, factory: LeadFactory,
                  rng: np.random.Generator, receive: Callable[[Lead], None]):
    """Process: while the account stays a customer, it brings repeat business and refers new accounts."""
    repeat, refer = settings.repeat_per_year / 365.25, settings.referrals_per_year / 365.25
    total = repeat + refer
    if total <= 0:
        return
    while True:
        yield env.timeout(rng.exponential(1.0 / total))
        if account.lost:
            return
        if rng.random() * total < repeat:
            receive(factory.lead_for(env.now, account, settings.repeat_source, rng))
        else:
            referred = factory.prospect(account.segment, rng)
            if referred is not None:
                receive(factory.lead_for(env.now, referred, settings.referral_source, rng))
