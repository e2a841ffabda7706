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
from numpy.random.bit_generator import ISpawnableSeedSequence

from ..world.accounts import AccountSettings
from .entities import Account, Lead
from .leads import LeadFactory


class AccountStreams:
    """One random stream per account, the same for the same account number whatever happens in between.

    Account n's stream is exactly `np.random.default_rng([key, n])`. Making a `SeedSequence` for it takes
    tens of microseconds, more than the rest of an account's life in the model, so the seeds of a block of
    accounts are mixed at once with numpy (`seed_states`, numpy's own SeedSequence algorithm; a test checks
    that the streams equal numpy's) and each account's generator starts from its precomputed state.
    """

    BLOCK = 256

    def __init__(self, rng: np.random.Generator):
        self._key = int(rng.integers(2**63))
        self._words = _uint32_words(self._key)
        self._blocks: dict[int, np.ndarray] = {}

    def of(self, account: Account) -> np.random.Generator:
        n = account.number
        if len(self._words) + 1 > POOL_SIZE:   # cannot happen for a 63-bit key; numpy's own way then
            return np.random.default_rng([self._key, n])
        block, i = divmod(n, self.BLOCK)
        states = self._blocks.get(block)
        if states is None:
            numbers = np.arange(block * self.BLOCK, (block + 1) * self.BLOCK, dtype=np.uint64)
            states = self._blocks[block] = seed_states(self._words, numbers)
        return np.random.Generator(np.random.PCG64(_Seeded(states[i], [self._key, n])))


# ---- numpy's SeedSequence for entropy [key, n], many n at once ---------------------------------------
POOL_SIZE = 4
_MASK = 0xFFFFFFFF
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715


def _uint32_words(n: int) -> list[int]:
    """A non-negative int as SeedSequence reads it: 32-bit words, least significant first ([0] for 0)."""
    words = [n & _MASK]
    n >>= 32
    while n:
        words.append(n & _MASK)
        n >>= 32
    return words


def seed_states(key_words: list[int], numbers: np.ndarray) -> np.ndarray:
    """`SeedSequence([key, n]).generate_state(4, np.uint64)` for every n in `numbers` (each n < 2**32), as rows.

    The same integer hashing as numpy's `SeedSequence` (pool of 4 words, no spawn key), vectorised over n.
    """
    numbers = numbers.astype(np.uint64)
    zeros = np.zeros_like(numbers)
    entropy = [zeros + np.uint64(w) for w in key_words] + [numbers]
    const = _INIT_A

    def hashmix(value: np.ndarray) -> np.ndarray:
        nonlocal const
        value = value ^ np.uint64(const)
        const = (const * _MULT_A) & _MASK
        value = (value * np.uint64(const)) & np.uint64(_MASK)
        return value ^ (value >> np.uint64(16))

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r = ((x * np.uint64(_MIX_L)) - (y * np.uint64(_MIX_R))) & np.uint64(_MASK)
        return r ^ (r >> np.uint64(16))

    pool = [hashmix(entropy[i] if i < len(entropy) else zeros) for i in range(POOL_SIZE)]
    for src in range(POOL_SIZE):
        for dst in range(POOL_SIZE):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    const, words = _INIT_B, []
    for i in range(2 * POOL_SIZE):   # 4 uint64 = 8 uint32 words, cycling through the pool
        value = pool[i % POOL_SIZE] ^ np.uint64(const)
        const = (const * _MULT_B) & _MASK
        value = (value * np.uint64(const)) & np.uint64(_MASK)
        words.append(value ^ (value >> np.uint64(16)))
    return np.stack([words[2 * j] | (words[2 * j + 1] << np.uint64(32)) for j in range(POOL_SIZE)], axis=1)


class _Seeded(ISpawnableSeedSequence):
    """A seed sequence whose state is already known (the one `np.random.SeedSequence(entropy, spawn_key=spawn_key)`
    would give); anything else asked of it is numpy's own sequence's answer."""

    def __init__(self, state: np.ndarray, entropy, spawn_key: tuple[int, ...] = ()):
        self._state, self.entropy, self.spawn_key = state, entropy, spawn_key

    def _numpys(self) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.entropy, spawn_key=self.spawn_key)

    def generate_state(self, n_words: int, dtype=np.uint32) -> np.ndarray:
        if n_words == POOL_SIZE and (dtype is np.uint64 or np.dtype(dtype) == np.uint64):   # as PCG64 asks: no np.dtype()
            return self._state.copy()
        return self._numpys().generate_state(n_words, dtype)

    def spawn(self, n_children: int) -> list[np.random.SeedSequence]:
        return self._numpys().spawn(n_children)


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
