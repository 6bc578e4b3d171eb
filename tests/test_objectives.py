"""Policy objectives: each against a NumPy transcription of its paper's formula,
the default against PPO's parameters from before objectives were modules, and
every objective under `jax.vmap` over seeds and `eqx.filter_vmap` over its
parameters (one compile)."""

import importlib.util
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import ChainEnv
from lerax.algorithm import (
    DPO,
    PPO,
    SPO,
    AbstractDriftObjective,
    AbstractPolicyObjective,
    ClippedSurrogate,
    KLPenalty,
    LearnedDrift,
    ObjectiveInputs,
)
from lerax.algorithm._objective import objective_state, with_objective_state
from lerax.buffer import RolloutBuffer
from lerax.policy import MLPActorCriticPolicy

FIXTURES = Path(__file__).parent / "fixtures"
_spec = importlib.util.spec_from_file_location(
    "make_objective_reference",
    Path(__file__).parent / "scripts" / "make_objective_reference.py",
)
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)

SMALL = dict(num_envs=2, num_steps=8, num_epochs=2, num_batches=2)
TOTAL = 3 * 16
N = 257


def random_inputs(seed: int = 0, state=None) -> ObjectiveInputs:
    rng = np.random.default_rng(seed)
    log_ratio = rng.uniform(-0.7, 0.7, N).astype(np.float32)
    log_ratio[:5] = 0.0  # ratio exactly 1
    old = rng.normal(-1.0, 0.5, N).astype(np.float32)
    advantages = rng.normal(0.0, 1.5, N).astype(np.float32)
    advantages[5] = 0.0
    return ObjectiveInputs(
        log_ratio=jnp.asarray(log_ratio),
        ratio=jnp.exp(jnp.asarray(log_ratio)),
        advantages=jnp.asarray(advantages),
        log_probs=jnp.asarray(old + log_ratio),
        old_log_probs=jnp.asarray(old),
        state=state,
    )


def as64(inputs: ObjectiveInputs):
    log_ratio = np.asarray(inputs.log_ratio, np.float64)
    return np.exp(log_ratio), log_ratio, np.asarray(inputs.advantages, np.float64)


def relu(x):
    return np.maximum(x, 0.0)


# --------------------------------------------------------- the paper formulas


def numpy_clip(r, log_r, a, eps=0.2):
    # Schulman et al. (2017), eq. 7: L = E[min(r A, clip(r, 1-eps, 1+eps) A)].
    return -np.mean(np.minimum(r * a, np.clip(r, 1 - eps, 1 + eps) * a))


def numpy_dpo_drift(r, log_r, a, alpha=2.0, beta=0.6):
    # Lu et al. (2022), the discovered drift.
    pos = relu((r - 1) * a - alpha * np.tanh((r - 1) * a / alpha))
    neg = relu(log_r * a - beta * np.tanh(log_r * a / beta))
    return np.where(a >= 0, pos, neg)


def numpy_dpo(r, log_r, a, alpha=2.0, beta=0.6):
    return -np.mean(r * a - numpy_dpo_drift(r, log_r, a, alpha, beta))


def numpy_spo(r, log_r, a, eps=0.2):
    # Xie et al. (2025): r A - |A| / (2 eps) (r - 1)^2.
    return -np.mean(r * a - np.abs(a) / (2 * eps) * (r - 1) ** 2)


def numpy_kl_penalty(r, log_r, a, beta):
    # Schulman et al. (2017), sec. 4, with the per-sample KL estimate
    # (r - 1) - log r.
    return -np.mean(r * a - beta * ((r - 1) - log_r))


@pytest.mark.parametrize(
    "objective, formula",
    [
        (ClippedSurrogate(), numpy_clip),
        (ClippedSurrogate(clip_coefficient=0.1), lambda *x: numpy_clip(*x, eps=0.1)),
        (DPO(), numpy_dpo),
        (DPO(alpha=1.0, beta=0.3), lambda *x: numpy_dpo(*x, alpha=1.0, beta=0.3)),
        (SPO(), numpy_spo),
        (SPO(epsilon=0.1), lambda *x: numpy_spo(*x, eps=0.1)),
    ],
    ids=["clip", "clip0.1", "dpo", "dpo1-0.3", "spo", "spo0.1"],
)
def test_objective_matches_its_paper_formula(objective, formula):
    for seed in range(3):
        inputs = random_inputs(seed)
        loss, diagnostics = objective(inputs)
        np.testing.assert_allclose(
            float(loss), formula(*as64(inputs)), rtol=1e-5, atol=1e-6
        )
        if isinstance(objective, AbstractDriftObjective):
            r, log_r, a = as64(inputs)
            drift = np.asarray(objective.drift(inputs))
            assert (drift >= 0).all()
            np.testing.assert_array_equal(drift[:5], 0.0)
            np.testing.assert_allclose(
                float(diagnostics["drift"]), float(np.mean(drift)), rtol=1e-6
            )


def test_paper_defaults():
    assert float(ClippedSurrogate().clip_coefficient) == pytest.approx(0.2)
    assert float(DPO().alpha) == 2.0
    assert float(DPO().beta) == pytest.approx(0.6)
    assert float(SPO().epsilon) == pytest.approx(0.2)
    assert float(KLPenalty().beta) == 1.0
    assert float(KLPenalty().target_kl) == pytest.approx(0.01)


def test_kl_penalty_matches_its_formula_and_the_adaptive_rule():
    objective = KLPenalty(beta=3.0)
    inputs = random_inputs(1, state=jnp.asarray(0.75))
    loss, diagnostics = objective(inputs)
    np.testing.assert_allclose(
        float(loss), numpy_kl_penalty(*as64(inputs), beta=0.75), rtol=1e-5
    )
    assert float(diagnostics["kl_coefficient"]) == 0.75
    assert float(objective.init_state(10)) == 3.0
    # d < d_targ / 1.5 halves, d > 1.5 d_targ doubles, otherwise unchanged.
    for kl, expected in ((0.006, 0.5), (0.0068, 1.0), (0.0149, 1.0), (0.016, 2.0)):
        got = objective.next_state(jnp.asarray(1.0), jnp.asarray(kl))
        assert float(got) == expected, kl
    fixed = KLPenalty(target_kl=None)
    assert float(fixed.next_state(jnp.asarray(1.0), jnp.asarray(1.0))) == 1.0


def test_learned_drift_is_its_network_and_vanishes_at_ratio_one():
    objective = LearnedDrift(key=jax.random.key(3))
    inputs = random_inputs(2)
    r, log_r, a = as64(inputs)

    def g(x):  # the MLP in NumPy: tanh hidden layers, linear output
        for layer in objective.network.layers[:-1]:
            x = np.tanh(x @ np.asarray(layer.weight, np.float64).T + layer.bias)
        last = objective.network.layers[-1]
        return (x @ np.asarray(last.weight, np.float64).T + last.bias)[..., 0]

    def features(r, log_r, a):
        return np.stack([r - 1, log_r, (r - 1) * a, log_r * a, a, np.abs(a)], -1)

    ones = np.ones_like(r)
    expected = (g(features(r, log_r, a)) - g(features(ones, 0 * r, a))) ** 2
    drift = np.asarray(objective.drift(inputs))
    np.testing.assert_allclose(drift, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(drift[:5], 0.0)
    loss, _ = objective(inputs)
    np.testing.assert_allclose(float(loss), -np.mean(r * a - expected), rtol=1e-5)
    # Zero gradient in the ratio at r = 1, for any advantage (mirror learning).
    grad = jax.vmap(jax.grad(lambda r, a: objective.drift_of(r, a)))(
        jnp.ones(4), jnp.asarray([-2.0, -0.1, 0.3, 3.0])
    )
    np.testing.assert_array_equal(np.asarray(grad), 0.0)


def test_bad_objective_arguments_fail_naming_them():
    with pytest.raises(ValueError, match="DPO: alpha"):
        DPO(alpha=-1.0)
    with pytest.raises(ValueError, match="SPO: epsilon"):
        SPO(epsilon=0.0)
    with pytest.raises(ValueError, match="KLPenalty: target_kl"):
        KLPenalty(target_kl=-0.1)
    with pytest.raises(ValueError, match="LearnedDrift: width"):
        LearnedDrift(width=0, key=jax.random.key(0))
    with pytest.raises(TypeError, match="objective must be an AbstractPolicyObjective"):
        PPO(objective="clip")
    with pytest.raises(TypeError, match="objective"):
        PPO(policy_loss=DPO())


# ------------------------------------------------- the default is PPO as before


@pytest.mark.usefixtures("full_xla_optimization")  # compares with a default build
@pytest.mark.parametrize("name", sorted(reference.RECIPES))
def test_default_objective_reproduces_ppo_from_before_objectives(name):
    # tests/fixtures/ppo_objective_reference.npz was written by
    # tests/scripts/make_objective_reference.py before this change.
    recorded = np.load(FIXTURES / "ppo_objective_reference.npz")
    leaves = reference.trained_leaves(name)
    assert len(leaves) == len([k for k in recorded if k.startswith(name + "_")])
    for i, leaf in enumerate(leaves):
        np.testing.assert_allclose(leaf, recorded[f"{name}_{i}"], rtol=1e-6, atol=1e-7)


def test_ppo_loss_default_equals_an_explicit_clipped_surrogate():
    env = ChainEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    buffer = minibatch(env, policy)
    args = (True, 0.3, False, 0.5, 0.01)
    default, stats = PPO.ppo_loss(policy, buffer, *args)
    explicit, explicit_stats = PPO.ppo_loss(
        policy, buffer, *args, None, ClippedSurrogate(clip_coefficient=0.3)
    )
    assert float(default) == float(explicit)
    assert stats.objective == {} and explicit_stats.objective == {}
    dpo_loss, dpo_stats = PPO.ppo_loss(policy, buffer, *args, None, DPO())
    assert set(dpo_stats.objective) == {"drift"}
    np.testing.assert_allclose(
        float(dpo_loss - dpo_stats.policy_loss),
        float(default - stats.policy_loss),
        rtol=1e-6,
    )


def minibatch(env, policy, size=32):
    keys = jax.random.split(jax.random.key(1), 5)
    observations = jax.vmap(lambda k: env.observation_space.sample(key=k))(
        jax.random.split(keys[0], size)
    )
    actions = jax.vmap(lambda k: env.action_space.sample(key=k))(
        jax.random.split(keys[1], size)
    )
    states = jax.vmap(lambda k: policy.reset(key=k))(jax.random.split(keys[2], size))
    _, values, log_probs, _ = jax.vmap(policy.evaluate_action)(
        states, observations, actions
    )
    return RolloutBuffer(
        observations=observations,
        actions=actions,
        rewards=jnp.zeros(size),
        terminations=jnp.zeros(size, bool),
        truncations=jnp.zeros(size, bool),
        log_probs=log_probs - 0.3 * jax.random.uniform(keys[3], (size,)),
        values=values,
        policy_states=states,
        next_observations=None,
        next_policy_states=None,
        advantages=1.0 + jax.random.normal(keys[3], (size,)),
        returns=jax.random.normal(keys[4], (size,)),
    )


# ------------------------------------------------------ the adaptive KL hook


def test_kl_penalty_state_is_advanced_by_the_rollout_kl_after_training():
    env = ChainEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    buffer = minibatch(env, policy)
    algo = PPO(
        num_envs=4,
        num_steps=8,
        num_epochs=2,
        num_batches=2,
        learning_rate=1e-2,
        objective=KLPenalty(beta=1.0, target_kl=0.01),
    )

    @eqx.filter_jit
    def train(beta):
        opt_state = algo.optimizer.init(eqx.filter(policy, eqx.is_inexact_array))
        opt_state = with_objective_state(opt_state, beta)
        return algo.train(policy, opt_state, buffer, key=jax.random.key(2))

    trained, opt_state, log = train(jnp.asarray(0.5))
    # The coefficient used during the iteration is logged.
    assert float(log["kl_coefficient"]) == 0.5
    # The KL of the rollout under the trained policy, in NumPy.
    _, _, log_probs, _ = jax.vmap(trained.evaluate_action)(
        buffer.policy_states, buffer.observations, buffer.actions
    )
    log_ratio = np.asarray(log_probs, np.float64) - np.asarray(buffer.log_probs)
    kl = float(np.mean(np.expm1(log_ratio) - log_ratio))
    expected = 0.25 if kl < 0.01 / 1.5 else (1.0 if kl > 0.015 else 0.5)
    assert float(objective_state(opt_state)) == expected, kl


# -------------------------------------------------------- vmap and filter_vmap


@pytest.fixture(scope="module")
def env():
    return ChainEnv()


@pytest.fixture(scope="module")
def policy(env):
    return MLPActorCriticPolicy(env=env, key=jax.random.key(0))


def leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))]


def test_filter_vmap_over_objective_parameters_is_one_compile(env, policy):
    traces = []

    @eqx.filter_jit
    def sweep(alphas, key):
        traces.append(1)
        algos = eqx.filter_vmap(lambda a: PPO(**SMALL, objective=DPO(alpha=a)))(alphas)
        return eqx.filter_vmap(lambda a: a.learn(env, policy, TOTAL, key=key))(algos)

    key = jax.random.key(4)
    first = sweep(jnp.asarray([0.05, 2.0]), key)
    second = sweep(jnp.asarray([0.5, 8.0]), key)
    assert len(traces) == 1
    single = PPO(**SMALL, objective=DPO(alpha=8.0)).learn(env, policy, TOTAL, key=key)
    for b, s in zip(leaves(second), leaves(single), strict=True):
        np.testing.assert_allclose(b[1], s, rtol=2e-4, atol=2e-5)
    assert not np.allclose(leaves(first)[0][0], leaves(first)[0][1])


def test_vmap_learn_over_keys_with_a_stateful_objective(env, policy):
    algo = PPO(**SMALL, objective=KLPenalty())
    keys = jax.random.split(jax.random.key(6), 2)
    batched = jax.vmap(lambda k: algo.learn_state(env, policy, TOTAL, key=k))(keys)
    single = algo.learn_state(env, policy, TOTAL, key=keys[1])
    for b, s in zip(leaves(batched.policy), leaves(single.policy), strict=True):
        assert b.shape == (2, *s.shape)
        np.testing.assert_allclose(b[1], s, rtol=2e-4, atol=2e-5)
    # Each seed carries its own coefficient, a power of two times beta = 1.
    betas = np.asarray(objective_state(batched.opt_state))
    assert betas.shape == (2,)
    np.testing.assert_array_equal(np.log2(betas), np.round(np.log2(betas)))
    assert float(objective_state(single.opt_state)) == betas[1]


def test_a_population_of_learned_drifts_trains_in_one_program(env, policy):
    population = eqx.filter_vmap(lambda k: LearnedDrift(width=8, key=k))(
        jax.random.split(jax.random.key(7), 3)
    )
    assert isinstance(population, AbstractPolicyObjective)
    keys = jax.random.split(jax.random.key(8), 3)
    # `jax.vmap` over keys and objectives together: a generation of an ES.
    trained = eqx.filter_vmap(
        lambda o, k: PPO(**SMALL, objective=o).learn(env, policy, TOTAL, key=k)
    )(population, keys)
    member = jax.tree.map(lambda x: x[2] if eqx.is_array(x) else x, population)
    single = PPO(**SMALL, objective=member).learn(env, policy, TOTAL, key=keys[2])
    for b, s in zip(leaves(trained), leaves(single), strict=True):
        assert b.shape == (3, *s.shape)
        np.testing.assert_allclose(b[2], s, rtol=2e-4, atol=2e-5)
