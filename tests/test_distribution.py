"""lerax.distribution: densities, entropies, masks and sampling vs NumPy."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.distribution import (
    Bernoulli,
    Categorical,
    DiagGaussian,
    MultiCategorical,
    SquashedDiagGaussian,
)
from lerax.space import MultiDiscrete

NUM_SAMPLES = 4000


@functools.partial(jax.jit, static_argnums=0)
def _summarize_jit(make, xs, keys):
    # One compiled program per distribution: eager distrax is slow to dispatch.
    dist = make()
    sample, sample_log_prob = dist.sample_and_log_prob(key=keys[0])
    return {
        "log_prob": jax.vmap(dist.log_prob)(xs),
        "entropy": dist.entropy(),
        "mode": dist.mode(),
        "samples": jax.vmap(lambda k: dist.sample(key=k))(keys),
        "sample": sample,
        "sample_log_prob": sample_log_prob,
        "log_prob_of_sample": dist.log_prob(sample),
    }


def summarize(make, xs):
    """Evaluate `make()` on the actions `xs` and draw NUM_SAMPLES samples."""
    keys = jax.random.split(jax.random.key(0), NUM_SAMPLES)
    out = _summarize_jit(make, jnp.asarray(xs), keys)
    return {k: np.asarray(v) for k, v in out.items()}


def _np_log_softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    shifted = x - x.max()
    return shifted - np.log(np.exp(shifted).sum())


def _np_entropy(log_p: np.ndarray) -> float:
    p = np.exp(log_p)
    return float(-(p * log_p).sum())


def _np_log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -np.asarray(x, dtype=np.float64))


def _np_normal_log_prob(x, mean, log_std):
    x, mean, log_std = (np.asarray(v, dtype=np.float64) for v in (x, mean, log_std))
    var = np.exp(2 * log_std)
    return (-((x - mean) ** 2) / (2 * var) - log_std - 0.5 * np.log(2 * np.pi)).sum()


def _np_gaussian_entropy(log_std):
    return (np.asarray(log_std, np.float64) + 0.5 * np.log(2 * np.pi * np.e)).sum()


# ----------------------------------------------------------------------------------
# Categorical

LOGITS = np.array([0.3, -1.2, 2.0, 0.5, -0.1], dtype=np.float32)
MASK = np.array([True, False, False, True, True])  # the argmax (index 2) is masked
ONLY_3 = np.array([False, False, False, True, False])
ALL_ACTIONS = np.arange(len(LOGITS))


def plain_categorical():
    return Categorical(LOGITS)


def masked_categorical():
    return Categorical(LOGITS, mask=MASK)


def single_choice_categorical():
    return Categorical(LOGITS, mask=ONLY_3)


def test_categorical_log_prob_entropy_mode_match_numpy():
    out = summarize(plain_categorical, ALL_ACTIONS)
    ref = _np_log_softmax(LOGITS)
    np.testing.assert_allclose(out["log_prob"], ref, rtol=1e-5)
    np.testing.assert_allclose(out["entropy"], _np_entropy(ref), rtol=1e-5)
    assert int(out["mode"]) == int(np.argmax(LOGITS))
    freq = np.bincount(out["samples"], minlength=len(LOGITS)) / NUM_SAMPLES
    np.testing.assert_allclose(freq, np.exp(ref), atol=0.03)


def test_categorical_mask_renormalises_over_allowed_choices():
    out = summarize(masked_categorical, ALL_ACTIONS)
    np.testing.assert_allclose(
        out["log_prob"][MASK], _np_log_softmax(LOGITS[MASK]), rtol=1e-5
    )
    np.testing.assert_allclose(
        out["entropy"], _np_entropy(_np_log_softmax(LOGITS[MASK])), rtol=1e-5
    )
    assert int(out["mode"]) == np.flatnonzero(MASK)[np.argmax(LOGITS[MASK])]
    # Masked actions: finite, but essentially impossible.
    assert np.isfinite(out["log_prob"]).all()
    assert (out["log_prob"][~MASK] < -1e6).all()


def test_categorical_never_samples_a_masked_action():
    out = summarize(masked_categorical, ALL_ACTIONS)
    samples = out["samples"]
    assert samples.dtype == np.int32
    assert MASK[samples].all()
    freq = np.bincount(samples, minlength=len(LOGITS)) / NUM_SAMPLES
    want = np.zeros(len(LOGITS))
    want[MASK] = np.exp(_np_log_softmax(LOGITS[MASK]))
    np.testing.assert_allclose(freq, want, atol=0.03)


def test_categorical_with_a_single_allowed_action_always_picks_it():
    out = summarize(single_choice_categorical, ALL_ACTIONS)
    assert (out["samples"] == 3).all()
    assert int(out["mode"]) == 3
    assert float(out["entropy"]) == pytest.approx(0.0, abs=1e-6)
    assert float(out["log_prob"][3]) == pytest.approx(0.0, abs=1e-6)


def test_masked_categorical_gradients_are_finite():
    @jax.jit
    def grad(logits):
        def loss(logits):
            dist = Categorical(logits, mask=MASK)
            return dist.log_prob(jnp.asarray(0)) + dist.entropy()

        return jax.grad(loss)(logits)

    g = np.asarray(grad(jnp.asarray(LOGITS)))
    assert np.isfinite(g).all()
    np.testing.assert_array_equal(g[~MASK], 0.0)


def test_categorical_rejects_bad_shapes():
    with pytest.raises(ValueError, match="mask has shape"):
        Categorical(LOGITS, mask=np.ones(4, dtype=bool))
    with pytest.raises(ValueError, match="logits must have shape"):
        Categorical(np.zeros((2, 3)))


def test_categorical_vmaps_over_a_batch_of_logits():
    batch = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    actions = np.array([0, 1, 2, 3, 0, 1])
    got = jax.jit(jax.vmap(lambda row, a: Categorical(row).log_prob(a)))(batch, actions)
    want = [_np_log_softmax(row)[a] for row, a in zip(batch, actions, strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-5)


# ----------------------------------------------------------------------------------
# MultiCategorical

NVEC = (2, 3, 1)
MC_LOGITS = np.array([0.5, -0.5, 1.0, 2.0, -1.0, 0.7], dtype=np.float32)
MC_MASK = np.array([True, True, True, False, True, True])
MC_ACTIONS = np.array([[0, 0, 0], [1, 2, 0], [0, 1, 0]])


def _segments(x):
    bounds = np.cumsum((0,) + NVEC)
    return [x[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def plain_multicategorical():
    return MultiCategorical(MC_LOGITS, NVEC)


def masked_multicategorical():
    return MultiCategorical(MC_LOGITS, NVEC, mask=MC_MASK)


def test_multicategorical_matches_numpy_sum_of_categoricals():
    out = summarize(plain_multicategorical, MC_ACTIONS)
    refs = [_np_log_softmax(seg) for seg in _segments(MC_LOGITS)]
    want = [sum(r[a] for r, a in zip(refs, act, strict=True)) for act in MC_ACTIONS]
    np.testing.assert_allclose(out["log_prob"], want, rtol=1e-5)
    np.testing.assert_allclose(
        out["entropy"], sum(_np_entropy(r) for r in refs), rtol=1e-5
    )
    np.testing.assert_array_equal(
        out["mode"], [np.argmax(seg) for seg in _segments(MC_LOGITS)]
    )
    assert out["samples"].shape == (NUM_SAMPLES, len(NVEC))
    np.testing.assert_allclose(
        (out["samples"][:, 1] == 2).mean(), np.exp(refs[1][2]), atol=0.03
    )


def test_multicategorical_mask_is_honoured():
    out = summarize(masked_multicategorical, MC_ACTIONS[1:2])
    refs = [
        _np_log_softmax(seg[m])
        for seg, m in zip(_segments(MC_LOGITS), _segments(MC_MASK), strict=True)
    ]
    # Entry 1 may be 0 or 2 (its index 1 is masked): 2 is its 2nd allowed choice.
    np.testing.assert_allclose(
        out["log_prob"][0], refs[0][1] + refs[1][1] + refs[2][0], rtol=1e-5
    )
    np.testing.assert_allclose(
        out["entropy"], sum(_np_entropy(r) for r in refs), rtol=1e-5
    )
    # Entry 1's largest logit (index 1) is masked; index 0 is the best allowed.
    assert int(out["mode"][1]) == 0
    samples = out["samples"]
    assert not (samples[:, 1] == 1).any()
    assert ((samples >= 0) & (samples < np.array(NVEC))).all()
    space = MultiDiscrete(NVEC)
    assert bool(jax.vmap(space.contains)(jnp.asarray(samples)).all())


def test_multicategorical_rejects_bad_shapes():
    with pytest.raises(ValueError, match="sum\\(nvec\\)"):
        MultiCategorical(np.zeros(5), NVEC)
    with pytest.raises(ValueError, match="mask has shape"):
        MultiCategorical(MC_LOGITS, NVEC, mask=np.ones(5, dtype=bool))
    with pytest.raises(ValueError, match="nvec"):
        MultiCategorical(np.zeros(0), ())


# ----------------------------------------------------------------------------------
# Bernoulli

B_LOGITS = np.array([0.4, -1.5, 2.5], dtype=np.float32)
B_ACTIONS = np.array([[0, 0, 0], [1, 0, 1], [1, 1, 1], [0, 1, 1]])
# Entry 0 may only be 0, entry 1 may only be 1, entry 2 is free.
B_MASK = np.array([[True, False], [False, True], [True, True]])


def plain_bernoulli():
    return Bernoulli(B_LOGITS)


def masked_bernoulli():
    return Bernoulli(B_LOGITS, mask=B_MASK)


def test_bernoulli_matches_numpy():
    out = summarize(plain_bernoulli, B_ACTIONS)
    want = (
        B_ACTIONS * _np_log_sigmoid(B_LOGITS)
        + (1 - B_ACTIONS) * _np_log_sigmoid(-B_LOGITS)
    ).sum(axis=1)
    np.testing.assert_allclose(out["log_prob"], want, rtol=1e-5)
    p = 1 / (1 + np.exp(-B_LOGITS.astype(np.float64)))
    want_entropy = -(p * np.log(p) + (1 - p) * np.log(1 - p)).sum()
    np.testing.assert_allclose(out["entropy"], want_entropy, rtol=1e-5)
    np.testing.assert_array_equal(out["mode"], (B_LOGITS > 0).astype(int))
    np.testing.assert_allclose(out["samples"].mean(0), p, atol=0.03)


def test_bernoulli_mask_forces_entries():
    out = summarize(masked_bernoulli, B_ACTIONS)
    samples = out["samples"]
    assert (samples[:, 0] == 0).all() and (samples[:, 1] == 1).all()
    assert 0 < samples[:, 2].mean() < 1
    np.testing.assert_array_equal(out["mode"], [0, 1, 1])
    p2 = 1 / (1 + np.exp(-float(B_LOGITS[2])))
    np.testing.assert_allclose(
        out["entropy"], -(p2 * np.log(p2) + (1 - p2) * np.log(1 - p2)), rtol=1e-5
    )
    np.testing.assert_allclose(out["log_prob"][3], np.log(p2), rtol=1e-5)
    assert np.isfinite(out["log_prob"]).all()
    assert (out["log_prob"][:3] < -1e6).all()  # each violates the mask


def test_bernoulli_rejects_bad_mask_shape():
    with pytest.raises(ValueError, match="mask has shape"):
        Bernoulli(B_LOGITS, mask=np.ones((3,), dtype=bool))


# ----------------------------------------------------------------------------------
# DiagGaussian

MEAN = np.array([[0.5, -1.0, 2.0], [0.0, 0.3, -0.7]], dtype=np.float32)
LOG_STD = np.array([[-0.5, 0.0, 0.2], [0.1, -1.0, 0.4]], dtype=np.float32)
G_XS = np.random.default_rng(1).normal(size=(3,) + MEAN.shape).astype(np.float32)


def diag_gaussian():
    return DiagGaussian(MEAN, LOG_STD)


def test_diag_gaussian_matches_numpy():
    out = summarize(diag_gaussian, G_XS)
    want = [_np_normal_log_prob(x, MEAN, LOG_STD) for x in G_XS]
    np.testing.assert_allclose(out["log_prob"], want, rtol=1e-5)
    np.testing.assert_allclose(out["entropy"], _np_gaussian_entropy(LOG_STD), rtol=1e-5)
    np.testing.assert_array_equal(out["mode"], MEAN)


def test_diag_gaussian_samples_have_the_right_moments():
    samples = summarize(diag_gaussian, G_XS)["samples"]
    assert samples.shape == (NUM_SAMPLES,) + MEAN.shape
    np.testing.assert_allclose(samples.mean(0), MEAN, atol=0.1)
    np.testing.assert_allclose(samples.std(0), np.exp(LOG_STD), rtol=0.1)


def test_diag_gaussian_broadcasts_a_scalar_log_std():
    dist = DiagGaussian(MEAN, -0.3)
    np.testing.assert_array_equal(dist.log_std, np.full(MEAN.shape, -0.3, np.float32))
    with pytest.raises(ValueError, match="log_std"):
        DiagGaussian(MEAN, np.zeros(4))


# ----------------------------------------------------------------------------------
# SquashedDiagGaussian

LOW = np.array([-1.0, 0.0], dtype=np.float32)
HIGH = np.array([1.0, 10.0], dtype=np.float32)
S_MEAN = np.array([0.3, -0.8], dtype=np.float32)
S_LOG_STD = np.array([-0.5, 0.2], dtype=np.float32)
S_XS = np.array([[0.2, 3.0], [-0.9, 9.5], [0.0, 5.0], [1.0, 10.0]], dtype=np.float32)


def squashed():
    return SquashedDiagGaussian(S_MEAN, S_LOG_STD, LOW, HIGH)


def wide_squashed():
    # A wide Gaussian saturates tanh, which is where rounding could escape.
    return SquashedDiagGaussian(S_MEAN, np.full(2, 2.0, np.float32), LOW, HIGH)


def _np_squashed_log_prob(x, mean, log_std, low, high):
    x, low, high = (np.asarray(v, dtype=np.float64) for v in (x, low, high))
    half = (high - low) / 2
    unit = (x - (high + low) / 2) / half
    log_det = np.log(half) + np.log(1 - unit**2)  # dx/dz = half * (1 - tanh(z)^2)
    return _np_normal_log_prob(np.arctanh(unit), mean, log_std) - log_det.sum()


@pytest.mark.parametrize("make", [squashed, wide_squashed])
def test_squashed_samples_lie_within_the_bounds(make):
    samples = summarize(make, S_XS)["samples"]
    assert ((samples >= LOW) & (samples <= HIGH)).all()


def test_squashed_log_prob_matches_change_of_variables():
    out = summarize(squashed, S_XS)
    want = [_np_squashed_log_prob(x, S_MEAN, S_LOG_STD, LOW, HIGH) for x in S_XS[:3]]
    np.testing.assert_allclose(out["log_prob"][:3], want, rtol=1e-4)
    # On the bound itself the density is clipped, not infinite or NaN.
    assert np.isfinite(out["log_prob"][3])
    np.testing.assert_allclose(
        out["sample_log_prob"],
        _np_squashed_log_prob(out["sample"], S_MEAN, S_LOG_STD, LOW, HIGH),
        rtol=1e-4,
    )


def test_squashed_mode_and_documented_entropy():
    out = summarize(squashed, S_XS)
    np.testing.assert_allclose(
        out["mode"], (HIGH + LOW) / 2 + (HIGH - LOW) / 2 * np.tanh(S_MEAN), rtol=1e-6
    )
    # Documented: the entropy of the pre-squash Gaussian.
    np.testing.assert_allclose(
        out["entropy"], _np_gaussian_entropy(S_LOG_STD), rtol=1e-5
    )


def test_squashed_rejects_bad_bounds():
    with pytest.raises(ValueError, match="finite"):
        SquashedDiagGaussian(S_MEAN, S_LOG_STD, LOW, np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="strictly below"):
        SquashedDiagGaussian(S_MEAN, S_LOG_STD, LOW, LOW)


# ----------------------------------------------------------------------------------
# Shared behaviour

CASES = [
    (masked_categorical, ALL_ACTIONS),
    (masked_multicategorical, MC_ACTIONS[1:2]),
    (plain_bernoulli, B_ACTIONS),
    (diag_gaussian, G_XS),
    (squashed, S_XS),
]


@pytest.mark.parametrize("make, xs", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_sample_and_log_prob_agrees_with_sample_then_log_prob(make, xs):
    out = summarize(make, xs)
    # keys[0] drew both `sample` (via sample_and_log_prob) and `samples[0]`.
    # (Equal up to float rounding: the vmapped draw may fuse differently.)
    np.testing.assert_allclose(out["sample"], out["samples"][0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        out["sample_log_prob"], out["log_prob_of_sample"], rtol=1e-5
    )
    assert out["sample_log_prob"].shape == () and out["entropy"].shape == ()


@functools.cache
def _squashed_round_trip():
    @jax.jit
    def run(mean, key):
        dist = SquashedDiagGaussian(
            jnp.full(2, mean), jnp.full(2, jnp.log(0.2)), -1.0, 1.0
        )
        keys = jax.random.split(key, 500)
        xs, lps = jax.vmap(lambda k: dist.sample_and_log_prob(key=k))(keys)
        return xs, lps, jax.vmap(dist.log_prob)(xs)

    return run


# Where tanh rounds onto the bound depends on XLA's tanh code, which differs
# at the cheap optimisation level: check it as users' programs compute it.
@pytest.mark.usefixtures("full_xla_optimization")
@pytest.mark.parametrize("mean", [0.0, 3.0, 6.0, 7.5, 20.0])
def test_squashed_sample_and_log_prob_round_trips_with_large_means(mean):
    # The audit case: log_prob(x) rebuilt the pre-squash value from the float32
    # sample and disagreed with sample_and_log_prob by up to 0.58 nats.
    xs, lps, again = (
        np.asarray(a) for a in _squashed_round_trip()(mean, jax.random.key(7))
    )
    np.testing.assert_allclose(lps, again, rtol=1e-6, atol=1e-6)
    assert np.isfinite(lps).all()
    # Against float64 NumPy at the action actually returned (where it is not
    # rounded onto a bound, where the exact density is infinite).
    inside = (np.abs(xs) < 1).all(axis=-1)
    if mean < 10:
        assert inside.mean() > 0.95
        want = np.array(
            [
                _np_squashed_log_prob(x, np.full(2, mean), np.log(0.2), -1.0, 1.0)
                for x in xs[inside]
            ]
        )
        np.testing.assert_allclose(lps[inside], want, rtol=1e-4, atol=1e-3)
    else:
        assert not inside.any()  # tanh(20) rounds to 1: every action is on the bound
