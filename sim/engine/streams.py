"""A random stream per deal, so that common random numbers survive a change of policy.

A policy that draws from the shared policies' stream (`model.rng`) in the order events happen gets
different numbers for the same deal as soon as a setting moves events around (a bug that stalls one deal
changes which deal reaches Evaluation next), and paired comparisons lose most of their power. Instead a
policy asks the run's `Streams` (``model.streams``) for a deal's own stream for a purpose (`Streams.of`):
made from the run's policy seed, the purpose and the deal's identity, it is the same in every scenario run
with that seed, whatever else drew before (the same idea as the accounts' streams, `sim.engine.accounts`). Nothing is drawn from `model.rng`.

A deal is recognised by its lead's arrival time and first stage-time draw, both drawn with the lead from the
market's (or its account's) stream, so they are the same across scenarios that share the market, whatever
order deals were created in.
"""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np

from .accounts import (_INIT_A, _INIT_B, _MASK, _MIX_L, _MIX_R, _MULT_A, _MULT_B, POOL_SIZE, _Seeded,
                       _uint32_words)
from .entities import Deal

BLOCK = 32           # uniform numbers drawn ahead per meeting for its attendees (more are drawn if needed)


class Streams:
    """The run's named random streams, made from its policy seed (`model.streams`).

    A stream is exactly `np.random.default_rng(SeedSequence(entropy, spawn_key=(*spawn_key, salt, *keys)))` of
    the run's policy seed. Making that `SeedSequence` costs tens of microseconds, and a run with meetings and
    trials makes thousands (a fifth of the `demo` preset's time), though every stream of a purpose shares all
    but its last entropy words. So the mixing of the shared words is done once per purpose (`_Prefix`), and
    each stream mixes only its keys (numpy's own SeedSequence algorithm, `sim.engine.accounts`; a test checks
    the streams equal numpy's).
    """

    def __init__(self, rng: np.random.Generator):
        self._seq = rng.bit_generator.seed_seq
        self._prefixes: dict[str, _Prefix | None] = {}
        self._hashed: dict[int, dict] = {}     # a `_Prefix.hashed` for each hash constant the key words start at

    def stream(self, purpose: str, *keys: int) -> np.random.Generator:
        """A random stream for one purpose and key (a deal's identity, a rep's number): the same in every
        scenario run with that seed, whatever else drew before."""
        prefix = self._prefixes.get(purpose, False)
        if prefix is False:
            prefix = self._prefixes[purpose] = _Prefix.of(self._seq, zlib.crc32(purpose.encode()))
            if prefix is not None:      # purposes whose key words meet the same hash constants share their hashes
                prefix.hashed = self._hashed.setdefault(prefix.start, {})
        if prefix is None:        # an unusual seed (not an int, another pool size): numpy's own way
            seq = self._seq
            salt = zlib.crc32(purpose.encode())
            return np.random.default_rng(np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, salt, *keys)))
        return prefix.generator(keys)

    def of(self, deal: Deal, purpose: str) -> np.random.Generator:
        """`deal`'s own stream for `purpose`."""
        return self.stream(purpose, *deal_keys(deal))

    def uniforms(self, block: np.ndarray | list[float], n: int, deal: Deal, purpose: str) -> list[float]:
        """`n` uniform numbers for a deal, as Python floats: the first from its pre-drawn `block`, any beyond it
        (more people than `BLOCK`, rare) from a stream of the deal's own for `purpose`."""
        n = max(n, 0)
        first = block[:n]
        first = first.tolist() if isinstance(first, np.ndarray) else list(first)
        if n <= len(block):
            return first
        return first + self.of(deal, purpose).random(n - len(block)).tolist()


_TWO_DOUBLES = struct.Struct("<2d")
_TWO_WORDS = struct.Struct("<2Q")


def deal_keys(deal: Deal) -> tuple[int, int]:
    """Keys that name a deal across scenarios: the bits of its lead's arrival time and first stage draw."""
    lead = deal.lead
    return _TWO_WORDS.unpack(_TWO_DOUBLES.pack(lead.arrived, lead.stage_noise[0] if lead.stage_noise else 0.0))


class _Prefix:
    """numpy's `SeedSequence` mixing, stopped after the entropy words every stream of one purpose shares (the run's
    entropy and spawn key, the purpose's salt): `generator(keys)` mixes in the keys' words and starts the stream.

    The hash constants numpy steps through do not depend on the data, so the ones the keys' words meet are
    listed once (`_consts`) and the mixing of a stream is plain integer arithmetic with no call per word.

    numpy hashes each key word with those constants alone before mixing it into the pool, and the constants
    depend only on how many words came before, which is the same for every purpose of a run (one salt word
    each). So a deal's key words are hashed once (`hashed`, keys -> hashes, shared by the purposes whose
    constants are the same: `start`), and each further stream of the deal (its meeting's, its trial's...)
    only mixes them into its purpose's pool: about half the arithmetic.

    That mixing multiplies each of the 4 pool words by the same constant, so the 4 words are mixed together,
    packed in one Python int (`_LANE` bits each: room for a 65-bit sum, so no word spills into the next) — one
    multiplication, addition and mask per key word instead of four (`_pack`; a test checks it against numpy).
    """

    KEY_WORDS = 8        # key words mixed this way (two 64-bit keys need 4); more go to numpy's own way

    def __init__(self, entropy, spawn_key: tuple[int, ...], pool: list[int], const: int):
        self.entropy, self.spawn_key, self.pool = entropy, spawn_key, tuple(pool)
        self._packed_pool = _pack(pool)
        self.start = const                    # the hash constant the first key word meets
        self.hashed: dict[tuple[int, ...], tuple[int, ...]] = {}
        self._consts = []                     # (xor, multiply) of each hash of a key word, in numpy's order
        for _ in range(POOL_SIZE * self.KEY_WORDS):
            after = (const * _MULT_A) & _MASK
            self._consts.append((const, after))
            const = after
        # the same, the four of each key word together, for `generator`'s written-out mixing
        self._word_consts = [sum(self._consts[POOL_SIZE * k : POOL_SIZE * (k + 1)], ()) for k in range(self.KEY_WORDS)]

    @classmethod
    def of(cls, seq: np.random.SeedSequence, salt: int) -> _Prefix | None:
        """The mixing of `SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, salt, ...))` up to the keys; None
        where the seed is not the usual kind (a pool of 4 words, an int entropy), which numpy then makes itself."""
        entropy = seq.entropy
        if getattr(seq, "pool_size", None) != POOL_SIZE or not isinstance(entropy, int) or entropy < 0:
            return None
        run = _uint32_words(entropy)
        run += [0] * (POOL_SIZE - len(run))                  # padded, as numpy does when there is a spawn key
        spawn = [w for k in (*seq.spawn_key, salt) for w in _uint32_words(int(k))]
        pool, const = _mix_start(run[:POOL_SIZE])
        pool, const = _mix_more(pool, const, run[POOL_SIZE:] + spawn)
        return cls(entropy, (*seq.spawn_key, salt), pool, const)

    def generator(self, keys: tuple[int, ...]) -> np.random.Generator:
        """The stream of these keys (non-negative ints), exactly as numpy would make it."""
        hashed = self.hashed.get(keys)
        if hashed is None:
            if any(k < 0 for k in keys):                 # numpy says what is wrong with them
                return np.random.default_rng(np.random.SeedSequence(self.entropy, spawn_key=(*self.spawn_key, *keys)))
            words = [w for k in keys for w in _uint32_words(k)]
            if len(words) > self.KEY_WORDS:
                pool, _ = _mix_more(list(self.pool), self._consts[0][0], words)
                return self._started(_generate_state(pool), keys)
            hashed = self.hashed[keys] = self._hash(words)
        # `_mix_more` on the key words with their hashes known, the 4 pool words at once: for each word,
        # `_mix(p, h) = (p * left - h) & mask`, then `r ^ (r >> 16)`, in every lane (see the class's docstring)
        lanes, left = _LANES_MASK, _MIX_L
        pool = self._packed_pool
        for minus_h in hashed:
            r = (pool * left + minus_h) & lanes
            pool = (r ^ (r >> 16)) & lanes          # the second mask drops what the shift moved in from the next lane
        return self._started(_state_of(pool & _MASK, (pool >> _LANE) & _MASK, (pool >> 2 * _LANE) & _MASK,
                                       pool >> 3 * _LANE), keys)

    def _hash(self, words: list[int]) -> tuple[int, ...]:
        """numpy's hash of each key word for each of the 4 pool words it is mixed into, times the mixing's right
        multiplier (what `_mix` subtracts): the part of the mixing that does not depend on the pool. Packed per
        word as `2**64 - h` in each lane: the same modulo 2**32 as subtracting `h`, and never below zero, so no
        lane borrows from the next."""
        mask, right, out = _MASK, _MIX_R, []
        for w, (x0, m0, x1, m1, x2, m2, x3, m3) in zip(words, self._word_consts):
            a, b, c, d = ((w ^ x0) * m0) & mask, ((w ^ x1) * m1) & mask, ((w ^ x2) * m2) & mask, ((w ^ x3) * m3) & mask
            out.append(_pack([_TWO_64 - (h ^ (h >> 16)) * right for h in (a, b, c, d)]))
        return tuple(out)

    def _started(self, state: list[int], keys: tuple[int, ...]) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(_Seeded(np.array(state, dtype=np.uint64), self.entropy,
                                                            (*self.spawn_key, *keys))))


_LANE = 80                     # bits per pool word packed in one int: a lane's sum stays below 2**65
_TWO_64 = 1 << 64
_LANES_MASK = sum(_MASK << (_LANE * j) for j in range(POOL_SIZE))   # the low 32 bits of each lane


def _pack(words) -> int:
    """The 4 pool words (or one value per pool word) in one int, `_LANE` bits apart, the first in the lowest bits."""
    return sum(w << (_LANE * j) for j, w in enumerate(words))


def seeded(entropy: list[int]) -> np.random.Generator:
    """Exactly `np.random.default_rng(entropy)` for a list of non-negative ints, made in a third of the time
    (numpy's SeedSequence mixing as plain integer arithmetic): for a policy that seeds a generator per event."""
    if any(int(k) < 0 for k in entropy):
        return np.random.default_rng(entropy)       # numpy says what is wrong with it
    words = [w for k in entropy for w in _uint32_words(int(k))]
    first = words[:POOL_SIZE] + [0] * (POOL_SIZE - len(words))   # numpy hashes a 0 for each missing word
    pool, const = _mix_start(first)
    if len(words) > POOL_SIZE:
        pool, _ = _mix_more(pool, const, words[POOL_SIZE:])
    state = np.array(_state_of(*pool), dtype=np.uint64)
    return np.random.Generator(np.random.PCG64(_Seeded(state, list(entropy))))


def _hashmix(value: int, const: int) -> tuple[int, int]:
    value ^= const
    const = (const * _MULT_A) & _MASK
    value = (value * const) & _MASK
    return value ^ (value >> 16), const


def _mix(x: int, y: int) -> int:
    r = (x * _MIX_L - y * _MIX_R) & _MASK
    return r ^ (r >> 16)


def _mix_start(first: list[int]) -> tuple[list[int], int]:
    """numpy's `mix_entropy` on the first 4 entropy words: each hashed into the pool, then every word into every other
    (`_hashmix` and `_mix` written out, with the hash constants listed once: `_START_CONSTS`)."""
    mask, left, right, consts = _MASK, _MIX_L, _MIX_R, _START_CONSTS
    pool = []
    for w, (x, m) in zip(first, consts):
        v = ((w ^ x) * m) & mask
        pool.append(v ^ (v >> 16))
    j = POOL_SIZE
    for src in range(POOL_SIZE):
        for dst in range(POOL_SIZE):
            if src != dst:
                x, m = consts[j]
                j += 1
                v = ((pool[src] ^ x) * m) & mask
                r = (pool[dst] * left - (v ^ (v >> 16)) * right) & mask
                pool[dst] = r ^ (r >> 16)
    return pool, consts[j - 1][1]


def _start_consts() -> list[tuple[int, int]]:
    """(xor, multiply) of the 16 hashes `_mix_start` makes, in numpy's order (they do not depend on the data)."""
    const, out = _INIT_A, []
    for _ in range(POOL_SIZE * POOL_SIZE):
        after = (const * _MULT_A) & _MASK
        out.append((const, after))
        const = after
    return out


_START_CONSTS = _start_consts()


def _mix_more(pool: list[int], const: int, words: list[int]) -> tuple[list[int], int]:
    """numpy's `mix_entropy` on entropy words beyond the pool's size: each word into every pool word, in order."""
    for w in words:
        for dst in range(POOL_SIZE):
            value, const = _hashmix(w, const)
            pool[dst] = _mix(pool[dst], value)
    return pool, const


def _state_consts() -> list[tuple[int, int]]:
    const, out = _INIT_B, []
    for _ in range(2 * POOL_SIZE):
        after = (const * _MULT_B) & _MASK
        out.append((const, after))
        const = after
    return out


_STATE_CONSTS = _state_consts()


def _generate_state(pool) -> list[int]:
    """numpy's `generate_state(4, np.uint64)` from a mixed pool."""
    words = []
    for i, (x, m) in enumerate(_STATE_CONSTS):
        value = ((pool[i % POOL_SIZE] ^ x) * m) & _MASK
        words.append(value ^ (value >> 16))
    return [words[2 * j] | (words[2 * j + 1] << 32) for j in range(POOL_SIZE)]


def _state_of(p0: int, p1: int, p2: int, p3: int,
              c=tuple(v for pair in _STATE_CONSTS for v in pair)) -> list[int]:
    """`_generate_state` of the pool (p0, p1, p2, p3), written out."""
    mask = _MASK
    a = ((p0 ^ c[0]) * c[1]) & mask
    b = ((p1 ^ c[2]) * c[3]) & mask
    d = ((p2 ^ c[4]) * c[5]) & mask
    e = ((p3 ^ c[6]) * c[7]) & mask
    f = ((p0 ^ c[8]) * c[9]) & mask
    g = ((p1 ^ c[10]) * c[11]) & mask
    h = ((p2 ^ c[12]) * c[13]) & mask
    k = ((p3 ^ c[14]) * c[15]) & mask
    return [(a ^ (a >> 16)) | ((b ^ (b >> 16)) << 32), (d ^ (d >> 16)) | ((e ^ (e >> 16)) << 32),
            (f ^ (f >> 16)) | ((g ^ (g >> 16)) << 32), (h ^ (h >> 16)) | ((k ^ (k >> 16)) << 32)]


def poisson_from_uniform(u: float, mean: float) -> int:
    """The Poisson(`mean`) count whose CDF first reaches `u` (inverse CDF): monotone in `mean` for one `u`."""
    if mean <= 0:
        return 0
    k, p = 0, math.exp(-mean)
    cdf = p
    while cdf < u and k < 1000:
        k += 1
        p *= mean / k
        cdf += p
    return k
