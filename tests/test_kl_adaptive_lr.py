"""PPO's KL-adaptive learning rate (`PPO(kl_adaptive_lr=KLAdaptiveLR(...))`).

References: the skrl / rl_games rule written out in plain Python, fed the KL
values the run itself reports; Adam's first step with a constant gradient
(`-lr` exactly) for the rate the optimizer applies.
"""

import dataclasses
import io

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import ChainEnv
from lerax import train_seeds
from lerax.algorithm import PPO, KLAdaptiveLR
from lerax.algorithm._kl_adaptive import adapt_learning_rate, find_kl_adaptive_state
from lerax.callback import LogHistoryCallback
from lerax.policy import MLPActorCriticPolicy


def reference_rule(lr, kl, threshold, min_lr, max_lr, kl_factor=2.0, lr_factor=1.5):
    """skrl's `KLAdaptiveLR.step` in plain Python (float64)."""
    if kl > threshold * kl_factor:
        return max(lr / lr_factor, min_lr)
    if kl < threshold / kl_factor:
        return min(lr * lr_factor, max_lr)
    return lr


def test_rule_on_a_scripted_kl_sequence():
    rule = KLAdaptiveLR(0.01, min_lr=1e-4, max_lr=2e-3)
    kls = [0.05, 0.05, 0.03, 0.0201, 0.02, 0.01, 0.005, 0.0049, 0.0, 0.0, 0.0]
    kls += [0.0] * 8 + [1.0] * 20 + [float("nan"), 0.012]
    lr, ref = jnp.asarray(1e-3, jnp.float32), 1e-3
    for kl in kls:
        lr = rule.next_learning_rate(lr, kl)
        ref = reference_rule(ref, kl, 0.01, 1e-4, 2e-3) if kl == kl else ref
        np.testing.assert_allclose(float(lr), ref, rtol=1e-6)
    # The sequence reached both clamps.
    assert float(rule.min_lr) == pytest.approx(1e-4)


def test_optimizer_applies_the_rate_in_its_state():
    # Constant gradient 1: each Adam step is exactly -lr, so the steps show the
    # rate the optimizer used, and `last_used` records it.
    rule = KLAdaptiveLR(0.01, min_lr=1e-5, max_lr=1.0)
    algo = PPO(learning_rate=0.1, adam_eps=1e-12, kl_adaptive_lr=rule)
    params = {"w": jnp.zeros(())}
    state = algo.optimizer.init(params)
    steps, used, ref, expected = [], [], 0.1, []
    for kl in (0.1, 0.1, 0.0, 0.01):
        updates, state = algo.optimizer.update({"w": jnp.ones(())}, state, params)
        steps.append(-float(updates["w"]))
        used.append(float(find_kl_adaptive_state(state).last_used))
        expected.append(ref)
        state = adapt_learning_rate(state, rule, kl)
        ref = reference_rule(ref, kl, 0.01, 1e-5, 1.0)
    np.testing.assert_allclose(steps, expected, rtol=3e-5)  # Adam in float32
    np.testing.assert_allclose(used, expected, rtol=1e-6)


def test_off_by_default_keeps_the_optimizer_state():
    params = {"w": jnp.zeros(())}
    plain = PPO().optimizer.init(params)
    assert find_kl_adaptive_state(plain) is None
    assert PPO().kl_adaptive_lr is None


@pytest.fixture(scope="module")
def env():
    return ChainEnv()


@pytest.fixture(scope="module")
def policy(env):
    return MLPActorCriticPolicy(env=env, key=jax.random.key(0))


SMALL = dict(num_envs=2, num_steps=8, num_batches=2, learning_rate=3e-3)


@pytest.mark.parametrize("per", ["epoch", "minibatch"])
def test_rate_follows_the_kls_a_vmapped_run_reports(env, policy, per):
    # The KL of an iteration's first minibatch is 0 (the policy has not moved
    # yet), so each iteration has two KLs the rule sees: 0 and `kl`, and the
    # log's `approx_kl` (the mean over minibatches) is `kl / 2`.
    # per="epoch": one epoch of two minibatches; the rule sees their mean once.
    # per="minibatch": two epochs of one minibatch; the rule sees 0, then kl.
    # The logged `learning_rate` (the rate of the last update) must follow the
    # Python rule fed those KLs, seed by seed, in a run vmapped over seeds.
    rule = KLAdaptiveLR(0.004, min_lr=1e-4, max_lr=3e-2, per=per)
    size = dict(num_epochs=1, num_batches=2)
    if per == "minibatch":
        size = dict(num_epochs=2, num_batches=1)
    algo = PPO(**dict(SMALL, **size), kl_adaptive_lr=rule)
    history = LogHistoryCallback(("approx_kl", "learning_rate"))
    iterations = 12
    keys = jax.random.split(jax.random.key(3), 2)
    states = train_seeds(algo, env, policy, iterations * 16, keys, callback=history)
    kls = np.asarray(states.callback_state.history["approx_kl"], np.float64)
    rates = np.asarray(states.callback_state.history["learning_rate"], np.float64)
    assert kls.shape == rates.shape == (2, iterations)

    def step(lr, kl):
        return reference_rule(lr, kl, 0.004, 1e-4, 3e-2)

    for seed in range(2):
        ref, expected = 3e-3, []
        for mean_kl in kls[seed]:
            if per == "epoch":
                expected.append(ref)
                ref = step(ref, mean_kl)
            else:
                ref = step(ref, 0.0)  # after the first minibatch
                expected.append(ref)  # the second (last) update's rate
                ref = step(ref, 2.0 * mean_kl)
        np.testing.assert_allclose(rates[seed], expected, rtol=1e-5)
        final = find_kl_adaptive_state(states.opt_state).learning_rate[seed]
        np.testing.assert_allclose(float(final), ref, rtol=1e-5)
    # The rule moved the rate, and each seed's rate followed its own KLs.
    assert len(np.unique(np.round(rates, 10))) > 2
    assert not np.allclose(kls[0], kls[1])


def test_resume_from_saved_state_is_exact(env, policy):
    algo = PPO(**SMALL, num_epochs=2, kl_adaptive_lr=KLAdaptiveLR(0.002))
    steps = 16
    full = algo.learn_state(env, policy, 4 * steps, key=jax.random.key(7))
    half = algo.learn_state(env, policy, 2 * steps, key=jax.random.key(7))
    # Through a file: the rate is a leaf of the saved optimizer state (the
    # run's PRNG keys are saved by the Checkpointer, not by Equinox).
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, half.opt_state)
    buffer.seek(0)
    skeleton = eqx.tree_at(
        lambda s: find_kl_adaptive_state(s).learning_rate,
        half.opt_state,
        jnp.zeros((), jnp.float32),
    )
    opt_state = eqx.tree_deserialise_leaves(buffer, skeleton)
    loaded = dataclasses.replace(half, opt_state=opt_state)
    resumed = algo.resume(loaded, 2)
    for a, b in zip(
        jax.tree.leaves(eqx.filter(full.opt_state, eqx.is_array)),
        jax.tree.leaves(eqx.filter(resumed.opt_state, eqx.is_array)),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(
        jax.tree.leaves(eqx.filter(full.policy, eqx.is_array)),
        jax.tree.leaves(eqx.filter(resumed.policy, eqx.is_array)),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    rate = find_kl_adaptive_state(full.opt_state).learning_rate
    assert float(rate) != pytest.approx(3e-3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kl_threshold=0.0), "kl_threshold"),
        (dict(min_lr=-1.0), "min_lr"),
        (dict(kl_factor=1.0), "kl_factor"),
        (dict(lr_factor=0.5), "lr_factor"),
        (dict(per="batch"), "per"),
        (dict(min_lr=1e-2, max_lr=1e-3), "min_lr"),
    ],
)
def test_rule_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KLAdaptiveLR(**kwargs)


def test_ppo_rejects_a_schedule_or_anneal_with_the_rule():
    with pytest.raises(ValueError, match="kl_adaptive_lr"):
        PPO(kl_adaptive_lr=KLAdaptiveLR(), anneal_learning_rate=True)
    with pytest.raises(ValueError, match="kl_adaptive_lr"):
        PPO(kl_adaptive_lr=KLAdaptiveLR(), learning_rate=lambda count: 1e-3)
    with pytest.raises(ValueError, match="kl_adaptive_lr"):
        PPO(kl_adaptive_lr=0.01)
