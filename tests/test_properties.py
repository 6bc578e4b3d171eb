"""Property tests (hypothesis): spaces, GAE and masked distributions.

Each property is checked on many random inputs against an independent
reference: membership and one-hot decoding written here in NumPy, GAE as the
explicit discounted sum of TD errors (`test_gae.explicit_sum_gae`), masks read
back directly. Shapes are fixed per test and the functions under test are
jitted once, so hypothesis varies values without recompiling.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from lerax.buffer import generalized_advantage_estimate
from lerax.distribution import Bernoulli, Categorical, MultiCategorical
from lerax.space import Box, Discrete, MultiBinary, MultiDiscrete
from test_gae import explicit_sum_gae

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
SEEDS = st.integers(0, 2**31 - 1)
BIG = float(np.finfo(np.float32).max)


# ----------------------------------------------------------------------------------
# Spaces

BOUNDS = st.sampled_from(
    [-np.inf, -BIG, -1e6, -1.0, -1e-3, 0.0, 0.5, 1.0, 1e6, BIG, np.inf]
)


@st.composite
def box_bounds(draw):
    """`(low, high)` of shape (3,) with `low <= high`, infinite ones included."""
    a = np.array(draw(st.lists(BOUNDS, min_size=3, max_size=3)))
    b = np.array(draw(st.lists(BOUNDS, min_size=3, max_size=3)))
    low, high = np.minimum(a, b), np.maximum(a, b)
    # A bound of +inf below (or -inf above) leaves no finite value: Box rejects it.
    return np.where(low == np.inf, BIG, low), np.where(high == -np.inf, -BIG, high)


@SETTINGS
@given(bounds=box_bounds(), seed=SEEDS)
def test_box_samples_are_inside_and_flatten_round_trips(bounds, seed):
    low, high = bounds
    space = Box(low, high)
    x = np.asarray(space.sample(key=jax.random.key(seed)))
    assert x.dtype == np.float32 and x.shape == (3,) and np.isfinite(x).all()
    # NumPy membership, with the bounds in the space's dtype (float32 rounds
    # -1e-3 below -1e-3, so the float64 interval [-1e-3, -1e-3] has no float32).
    low, high = low.astype(np.float32), high.astype(np.float32)
    assert ((low <= x) & (x <= high)).all()
    assert bool(space.contains(x))
    np.testing.assert_array_equal(np.asarray(space.flatten(x)).reshape(3), x)


NVEC = (2, 4, 3)


@functools.cache
def _discrete_samplers():
    # One compile per space; the mask and the key are traced arguments.
    discrete = Discrete(5)
    multi = MultiDiscrete(NVEC)
    binary = MultiBinary(3)

    @jax.jit
    def sample(key, d_mask, md_mask, mb_mask):
        keys = jax.random.split(key, 3)
        d = discrete.sample(key=keys[0], mask=d_mask)
        md = multi.sample(key=keys[1], mask=md_mask)
        mb = binary.sample(key=keys[2], mask=mb_mask)
        flats = (discrete.flatten(d), multi.flatten(md), binary.flatten(mb))
        return (d, md, mb), flats

    return sample


@SETTINGS
@given(
    seed=SEEDS,
    d_mask=hnp.arrays(bool, 5),
    md_mask=hnp.arrays(bool, sum(NVEC)),
    mb_mask=hnp.arrays(bool, (3, 2)),
)
def test_discrete_samples_are_allowed_members_and_one_hot_round_trips(
    seed, d_mask, md_mask, mb_mask
):
    (d, md, mb), (d_flat, md_flat, mb_flat) = _discrete_samplers()(
        jax.random.key(seed), d_mask, md_mask, mb_mask
    )
    d, md, mb = int(d), np.asarray(md), np.asarray(mb)
    # Discrete: in range, allowed unless nothing is, one-hot decodes back.
    assert 0 <= d < 5 and (d_mask[d] or not d_mask.any())
    np.testing.assert_array_equal(np.asarray(d_flat), np.eye(5)[d])
    # MultiDiscrete: entry by entry, against its own slice of the flat mask.
    starts = np.cumsum((0,) + NVEC[:-1])
    flat = np.asarray(md_flat)
    for i, (start, n) in enumerate(zip(starts, NVEC, strict=True)):
        entry_mask = md_mask[start : start + n]
        assert 0 <= md[i] < n and (entry_mask[md[i]] or not entry_mask.any())
        np.testing.assert_array_equal(flat[start : start + n], np.eye(n)[md[i]])
    # MultiBinary: each bit takes an allowed value unless neither is.
    for i in range(3):
        assert mb[i] in (0, 1) and (mb_mask[i, mb[i]] or not mb_mask[i].any())
    np.testing.assert_array_equal(np.asarray(mb_flat), mb.astype(np.float32))


# ----------------------------------------------------------------------------------
# GAE

STEPS, ENVS = 16, 3
FLOATS = st.floats(-10.0, 10.0, allow_nan=False, width=32)


@functools.cache
def _gae():
    return jax.jit(
        lambda r, v, nv, te, tr, g, lam: generalized_advantage_estimate(
            r, v, nv, te, tr, gamma=g, gae_lambda=lam
        )
    )


@SETTINGS
@given(
    rewards=hnp.arrays(np.float32, (STEPS, ENVS), elements=FLOATS),
    values=hnp.arrays(np.float32, (STEPS, ENVS), elements=FLOATS),
    next_values=hnp.arrays(np.float32, (STEPS, ENVS), elements=FLOATS),
    terminated=hnp.arrays(bool, (STEPS, ENVS)),
    truncated=hnp.arrays(bool, (STEPS, ENVS)),
    gamma=st.floats(0.01, 1.0),
    lam=st.floats(0.0, 1.0),
)
def test_gae_matches_the_explicit_sum_of_td_errors(
    rewards, values, next_values, terminated, truncated, gamma, lam
):
    adv, ret = _gae()(
        rewards,
        values,
        next_values,
        terminated,
        truncated,
        np.float32(gamma),
        np.float32(lam),
    )
    adv, ret = np.asarray(adv), np.asarray(ret)
    for e in range(ENVS):
        want = explicit_sum_gae(
            rewards[:, e].astype(np.float64),
            values[:, e].astype(np.float64),
            next_values[:, e].astype(np.float64),
            terminated[:, e],
            truncated[:, e],
            gamma,
            lam,
        )
        # float32 sums of up to 16 terms of size <= 30: 1e-3 absolute is loose
        # enough for rounding and far below any sign or bootstrap error (>= 0.01).
        np.testing.assert_allclose(adv[:, e], want, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(ret, adv + values, rtol=1e-5, atol=1e-4)


# ----------------------------------------------------------------------------------
# Masked distributions never sample a masked choice

DRAWS = 64


@functools.cache
def _distribution_samplers():
    def draws(dist, key):
        return jax.vmap(lambda k: dist.sample(key=k))(jax.random.split(key, DRAWS))

    @jax.jit
    def sample(key, c_logits, c_mask, m_logits, m_mask, b_logits, b_mask):
        keys = jax.random.split(key, 3)
        return (
            draws(Categorical(c_logits, mask=c_mask), keys[0]),
            draws(MultiCategorical(m_logits, NVEC, mask=m_mask), keys[1]),
            draws(Bernoulli(b_logits, mask=b_mask), keys[2]),
        )

    return sample


LOGITS = st.floats(-20.0, 20.0, allow_nan=False, width=32)


@SETTINGS
@given(
    seed=SEEDS,
    c_logits=hnp.arrays(np.float32, 5, elements=LOGITS),
    c_mask=hnp.arrays(bool, 5),
    m_logits=hnp.arrays(np.float32, sum(NVEC), elements=LOGITS),
    m_mask=hnp.arrays(bool, sum(NVEC)),
    b_logits=hnp.arrays(np.float32, 3, elements=LOGITS),
    b_mask=hnp.arrays(bool, (3, 2)),
)
def test_masked_distributions_never_sample_a_masked_choice(
    seed, c_logits, c_mask, m_logits, m_mask, b_logits, b_mask
):
    c, m, b = (
        np.asarray(x)
        for x in _distribution_samplers()(
            jax.random.key(seed), c_logits, c_mask, m_logits, m_mask, b_logits, b_mask
        )
    )
    assert ((0 <= c) & (c < 5)).all()
    if c_mask.any():
        assert c_mask[c].all()
    starts = np.cumsum((0,) + NVEC[:-1])
    for i, (start, n) in enumerate(zip(starts, NVEC, strict=True)):
        entry_mask = m_mask[start : start + n]
        assert ((0 <= m[:, i]) & (m[:, i] < n)).all()  # never outside nvec[i]
        if entry_mask.any():
            assert entry_mask[m[:, i]].all()
    for i in range(3):
        assert np.isin(b[:, i], (0, 1)).all()
        if b_mask[i].any():
            assert b_mask[i, b[:, i]].all()


def test_multicategorical_fully_masked_entry_is_uniform_over_its_own_choices():
    # The audit case: nvec=(2, 4) with entry 0 fully masked gave values 2 and 3.
    mask = np.array([False, False, True, False, True, True])
    dist = MultiCategorical(np.zeros(6, np.float32), (2, 4), mask=mask)
    samples = np.asarray(
        jax.vmap(lambda k: dist.sample(key=k))(
            jax.random.split(jax.random.key(0), 4000)
        )
    )
    assert set(np.unique(samples[:, 0])) == {0, 1}
    assert set(np.unique(samples[:, 1])) == {0, 2, 3}
    # Entry 0 is uniform over its 2 choices: 4000 draws, 5 sigma is 0.04.
    assert abs((samples[:, 0] == 1).mean() - 0.5) < 0.04
    # log_prob agrees: log(1/2) for entry 0 plus log(1/3) for entry 1.
    for action in ([0, 0], [1, 2], [1, 3]):
        np.testing.assert_allclose(
            float(dist.log_prob(jnp.asarray(action))),
            np.log(1 / 2) + np.log(1 / 3),
            rtol=1e-5,
        )
    np.testing.assert_allclose(float(dist.entropy()), np.log(2) + np.log(3), rtol=1e-5)
