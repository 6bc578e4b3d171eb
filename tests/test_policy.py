"""lerax.policy: MLPActorCriticPolicy against hand-built distrax distributions.

Every (observation kind, action kind) pair is compiled once, in a module-scoped
fixture that runs one jitted probe over a batch; the tests then inspect its
outputs.
"""

from __future__ import annotations

import functools

import distrax
import equinox as eqx
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.env import AbstractEnv, AbstractEnvState
from lerax.policy import (
    AbstractActorCriticPolicy,
    MLPActorCriticPolicy,
    NullPolicyState,
)
from lerax.space import Box, Dict, Discrete, MultiBinary, MultiDiscrete, Tuple

BATCH = 64
WIDTH = 8
DEPTH = 2

# Every observation space flattens to 4 numbers and every action head has 4
# outputs, so all policies share one architecture (one initialisation compile).
OBS_SPACES = {
    "box": Box(-1.0, 1.0, shape=(4,)),
    "dict": Dict({"pos": Box(-2.0, 2.0, shape=(2,)), "flag": Discrete(2)}),
    "tuple": Tuple([Box(0.0, 1.0, shape=(1,)), MultiBinary(3)]),
}
ACT_SPACES = {
    "discrete": Discrete(4),
    "multidiscrete": MultiDiscrete([1, 3]),
    "multibinary": MultiBinary(4),
    # Unbounded so that `contains` holds for unclipped Gaussian samples.
    "box": Box(-jnp.inf, jnp.inf, shape=(4,)),
}
COMBOS = [(o, a) for o in OBS_SPACES for a in ACT_SPACES]


def _random_masks(space, rng: np.random.Generator):
    """Per-example masks with at least one allowed choice everywhere."""
    if isinstance(space, Discrete):
        mask = rng.random((BATCH, space.n)) < 0.5
        mask[np.arange(BATCH), rng.integers(space.n, size=BATCH)] = True
        return jnp.asarray(mask)
    if isinstance(space, MultiDiscrete):
        parts = []
        for n in space.nvec:
            part = rng.random((BATCH, n)) < 0.5
            part[np.arange(BATCH), rng.integers(n, size=BATCH)] = True
            parts.append(part)
        return jnp.asarray(np.concatenate(parts, axis=1))
    if isinstance(space, MultiBinary):
        mask = rng.random((BATCH, space.n, 2)) < 0.6
        keep = rng.integers(2, size=(BATCH, space.n))
        np.put_along_axis(mask, keep[..., None], True, axis=2)
        return jnp.asarray(mask)
    return None


def _allowed(space, action, mask) -> bool:
    """Whether an action respects a mask (NumPy, outside the policy)."""
    action, mask = np.asarray(action), np.asarray(mask)
    if isinstance(space, Discrete):
        return bool(mask[action])
    if isinstance(space, MultiDiscrete):
        offsets = np.cumsum((0,) + space.nvec[:-1])
        return bool(mask[offsets + action].all())
    if isinstance(space, MultiBinary):
        return bool(mask[np.arange(space.n), action].all())
    raise AssertionError(space)


def _observations(kind: str, rng: np.random.Generator):
    """A batch of observations of each kind, drawn with NumPy (nothing to compile)."""
    box = rng.uniform(-1.0, 1.0, size=(BATCH, 4)).astype(np.float32)
    if kind == "box":
        return jnp.asarray(box)
    if kind == "dict":
        return {
            "flag": jnp.asarray(rng.integers(2, size=BATCH), dtype=jnp.int32),
            "pos": jnp.asarray(2 * box[:, :2]),
        }
    return (
        jnp.asarray(rng.uniform(size=(BATCH, 1)), dtype=jnp.float32),
        jnp.asarray(rng.integers(2, size=(BATCH, 3)), dtype=jnp.int32),
    )


@eqx.filter_jit
def _probe(policy, obs, act_key, masks):
    act_keys = jax.random.split(act_key, BATCH)
    state = policy.reset(key=act_key)

    def one(o, k, m):
        s1, action, value, log_prob = policy.action_and_value(
            state, o, key=k, action_mask=m
        )
        s2, eval_value, eval_log_prob, entropy = policy.evaluate_action(
            state, o, action, action_mask=m
        )
        s3, only_value = policy.value(state, o)
        s4, deterministic = policy(state, o, action_mask=m)
        return {
            "action": action,
            "value": value,
            "log_prob": log_prob,
            "eval_value": eval_value,
            "eval_log_prob": eval_log_prob,
            "entropy": entropy,
            "only_value": only_value,
            "deterministic": deterministic,
            "contains": policy.action_space.contains(action),
            "det_contains": policy.action_space.contains(deterministic),
            "raw": policy.actor(policy.observation_space.flatten(o)),
            "states": (s1, s2, s3, s4),
        }

    out = jax.vmap(one)(obs, act_keys, masks)
    states = jax.vmap(lambda k: policy.reset(key=k))(act_keys)
    batch_value, batch_log_prob, batch_entropy = policy.evaluate_actions(
        states, obs, out["action"], action_masks=masks
    )
    out.update(
        batch_value=batch_value,
        batch_log_prob=batch_log_prob,
        batch_entropy=batch_entropy,
    )
    return out


@functools.partial(jax.jit, static_argnums=0)
def _reference(space, raw, log_std, actions, masks):
    """log-prob, entropy and mode from distrax distributions built by hand.

    Masked choices get `-inf` logits here (the policy uses a finite number), and
    a MultiBinary entry is a two-way categorical over logits `[0, l]`.
    """

    def one(raw, action, mask):
        if isinstance(space, Box):
            dist = distrax.MultivariateNormalDiag(raw, jnp.exp(log_std))
            return dist.log_prob(action), dist.entropy(), raw
        if isinstance(space, Discrete):
            segments, actions_, masks_ = [raw], [action], [mask]
        elif isinstance(space, MultiDiscrete):
            cuts = np.cumsum(space.nvec)[:-1]
            segments = jnp.split(raw, cuts)
            actions_ = list(action)
            masks_ = jnp.split(mask, cuts)
        else:  # MultiBinary
            segments = [jnp.stack([0.0, r]) for r in raw]
            actions_ = list(action)
            masks_ = list(mask)
        log_prob = entropy = 0.0
        mode = []
        for logits, a, m in zip(segments, actions_, masks_, strict=True):
            dist = distrax.Categorical(logits=jnp.where(m, logits, -jnp.inf))
            log_prob = log_prob + dist.log_prob(a)
            entropy = entropy + dist.entropy()
            mode.append(dist.mode())
        return log_prob, entropy, jnp.stack(mode).reshape(jnp.shape(action))

    return jax.vmap(one)(raw, actions, masks)


def _make_policy(obs_kind, act_kind, **kwargs):
    return MLPActorCriticPolicy(
        observation_space=OBS_SPACES[obs_kind],
        action_space=ACT_SPACES[act_kind],
        width_size=WIDTH,
        depth=DEPTH,
        key=jax.random.key(42),
        **kwargs,
    )


@pytest.fixture(scope="module", params=COMBOS, ids=["-".join(c) for c in COMBOS])
def probed(request):
    obs_kind, act_kind = request.param
    policy = _make_policy(obs_kind, act_kind)
    masks = _random_masks(ACT_SPACES[act_kind], np.random.default_rng(0))
    obs = _observations(obs_kind, np.random.default_rng(1))
    batched = jax.tree.map(np.asarray, _probe(policy, obs, jax.random.key(2), masks))
    batched2 = jax.tree.map(np.asarray, _probe(policy, obs, jax.random.key(3), masks))
    log_std = None if policy.log_std is None else np.asarray(policy.log_std)
    ref = _reference(
        policy.action_space, batched["raw"], log_std, batched["action"], masks
    )
    return {
        "policy": policy,
        "space": policy.action_space,
        "masks": None if masks is None else np.asarray(masks),
        "batched": batched,
        "batched2": batched2,
        "ref": jax.tree.map(np.asarray, ref),
    }


def test_sampled_actions_are_in_the_action_space(probed):
    b = probed["batched"]
    assert b["contains"].all() and b["det_contains"].all()
    assert b["action"].dtype == np.dtype(probed["space"].dtype)
    assert b["action"].shape == (BATCH,) + probed["space"].shape


def test_log_prob_matches_evaluate_action_and_a_distrax_reference(probed):
    b = probed["batched"]
    ref_log_prob, ref_entropy, _ = probed["ref"]
    np.testing.assert_allclose(b["log_prob"], b["eval_log_prob"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b["log_prob"], ref_log_prob, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b["entropy"], ref_entropy, rtol=1e-5, atol=1e-5)
    assert np.isfinite(b["log_prob"]).all() and np.isfinite(b["entropy"]).all()


def test_batched_evaluation_matches_a_distrax_reference(probed):
    # `evaluate_actions` (the batch-wide path PPO's loss takes) against the
    # hand-built distrax distributions and the per-sample critic.
    b = probed["batched"]
    ref_log_prob, ref_entropy, _ = probed["ref"]
    assert b["batch_log_prob"].shape == (BATCH,)
    np.testing.assert_allclose(b["batch_log_prob"], ref_log_prob, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b["batch_entropy"], ref_entropy, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b["batch_value"], b["only_value"], rtol=1e-5, atol=1e-6)


def test_deterministic_call_is_the_mode_and_ignores_the_key(probed):
    b, b2 = probed["batched"], probed["batched2"]
    _, _, ref_mode = probed["ref"]
    np.testing.assert_array_equal(b["deterministic"], b2["deterministic"])
    np.testing.assert_allclose(b["deterministic"], ref_mode, rtol=1e-6)
    # The stochastic path does depend on the key.
    assert not np.array_equal(b["action"], b2["action"])


def test_masks_are_honoured(probed):
    if probed["masks"] is None:
        pytest.skip("Box actions take no mask")
    space, masks = probed["space"], probed["masks"]
    b = probed["batched"]
    for action, det, mask in zip(b["action"], b["deterministic"], masks, strict=True):
        assert _allowed(space, action, mask)
        assert _allowed(space, det, mask)


def test_values_are_scalars_and_consistent(probed):
    b = probed["batched"]
    assert b["value"].shape == (BATCH,)
    assert b["log_prob"].shape == (BATCH,) and b["entropy"].shape == (BATCH,)
    np.testing.assert_array_equal(b["value"], b["eval_value"])
    np.testing.assert_allclose(b["value"], b["only_value"], rtol=1e-6)


def test_states_are_null(probed):
    states = probed["batched"]["states"]
    assert all(isinstance(state, NullPolicyState) for state in states)
    assert jax.tree.leaves(states) == []


@pytest.mark.parametrize("combo", [("dict", "multidiscrete"), ("tuple", "box")])
def test_vmap_matches_unbatched_calls(combo):
    policy = _make_policy(*combo)
    space = ACT_SPACES[combo[1]]
    masks = _random_masks(space, np.random.default_rng(0))
    obs_batch = _observations(combo[0], np.random.default_rng(1))
    batched = _probe(policy, obs_batch, jax.random.key(2), masks)
    obs = jax.tree.map(lambda x: x[0], obs_batch)
    mask = None if masks is None else masks[0]
    key = jax.random.split(jax.random.key(2), BATCH)[0]

    @eqx.filter_jit
    def unbatched(policy, obs, key, mask):
        state = NullPolicyState()
        _, action, value, log_prob = policy.action_and_value(
            state, obs, key=key, action_mask=mask
        )
        _, _, _, entropy = policy.evaluate_action(state, obs, action, action_mask=mask)
        _, deterministic = policy(state, obs, action_mask=mask)
        _, called = policy(state, obs, key=key, action_mask=mask)
        return action, value, log_prob, entropy, deterministic, called

    single = unbatched(policy, obs, key, mask)
    assert single[1].shape == single[2].shape == single[3].shape == ()
    # __call__ with a key samples exactly what action_and_value samples.
    np.testing.assert_array_equal(single[5], single[0])
    names = ("action", "value", "log_prob", "entropy", "deterministic")
    for name, got in zip(names, single[:5], strict=True):
        np.testing.assert_allclose(batched[name][0], got, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------------
# Construction and initialisation


def _orthonormal_gain(weight: np.ndarray) -> float:
    """The g with W W^T = g^2 I (or W^T W); fails unless W is scaled-orthogonal."""
    w = np.asarray(weight, dtype=np.float64)
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    g2 = gram[0, 0]
    np.testing.assert_allclose(gram, g2 * np.eye(len(gram)), atol=1e-5)
    return float(np.sqrt(g2))


def test_orthogonal_initialisation_gains_and_zero_biases():
    policy = _make_policy("box", "discrete")
    for mlp, final_gain in ((policy.actor, 0.01), (policy.critic, 1.0)):
        gains = [_orthonormal_gain(layer.weight) for layer in mlp.layers]
        np.testing.assert_allclose(gains[:-1], np.sqrt(2.0), rtol=1e-5)
        np.testing.assert_allclose(gains[-1], final_gain, rtol=1e-5)
        for layer in mlp.layers:
            np.testing.assert_array_equal(layer.bias, 0.0)
    assert len(policy.actor.layers) == DEPTH + 1
    assert policy.actor.layers[0].weight.shape == (WIDTH, OBS_SPACES["box"].flat_size)
    assert policy.actor.layers[-1].weight.shape == (4, WIDTH)


def test_default_architecture_and_plain_initialisation():
    policy = MLPActorCriticPolicy(
        observation_space=OBS_SPACES["box"],
        action_space=ACT_SPACES["box"],
        key=jax.random.key(0),
        ortho_init=False,
        log_std_init=-0.5,
    )
    assert (policy.width_size, policy.depth) == (64, 2)
    assert policy.activation is jax.nn.tanh
    assert [layer.weight.shape for layer in policy.critic.layers] == [
        (64, 4),
        (64, 64),
        (1, 64),
    ]
    # Equinox's default initialisation has non-zero biases.
    assert np.abs(np.asarray(policy.actor.layers[0].bias)).sum() > 0
    np.testing.assert_array_equal(policy.log_std, np.full((4,), -0.5, np.float32))
    assert MLPActorCriticPolicy.name == "MLPActorCriticPolicy"
    assert isinstance(policy, AbstractActorCriticPolicy)


class _TinyState(AbstractEnvState):
    t: jax.Array


class _TinyEnv(AbstractEnv):
    name: str = "Tiny"
    action_space: MultiDiscrete = MultiDiscrete([2, 2])
    observation_space: Box = Box(-1.0, 1.0, shape=(4,))

    def initial(self, *, key):
        return _TinyState(jnp.asarray(0))

    def transition(self, state, action, *, key):
        return _TinyState(state.t + 1)

    def observation(self, state, *, key):
        return jnp.zeros(4)

    def reward(self, state, action, next_state, *, key):
        return jnp.asarray(0.0)

    def terminal(self, state, *, key):
        return jnp.asarray(False)

    def truncate(self, state):
        return state.t >= 3


def test_spaces_come_from_the_env():
    env = _TinyEnv()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0), width_size=4)
    assert policy.action_space is env.action_space
    assert policy.observation_space is env.observation_space
    assert policy.actor.layers[0].weight.shape == (4, 4)
    assert policy.actor.layers[-1].weight.shape == (4, 4)  # sum(nvec) logits


def test_bad_construction_arguments_raise():
    obs, act = OBS_SPACES["box"], ACT_SPACES["discrete"]
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="Dict"):
        MLPActorCriticPolicy(
            observation_space=obs, action_space=OBS_SPACES["dict"], key=key
        )
    with pytest.raises(ValueError, match="Tuple"):
        MLPActorCriticPolicy(
            observation_space=obs, action_space=OBS_SPACES["tuple"], key=key
        )
    with pytest.raises(ValueError, match="action_space is missing"):
        MLPActorCriticPolicy(observation_space=obs, key=key)
    with pytest.raises(ValueError, match="not both"):
        MLPActorCriticPolicy(_TinyEnv(), observation_space=obs, key=key)
    with pytest.raises(ValueError, match="width_size"):
        MLPActorCriticPolicy(
            observation_space=obs, action_space=act, width_size=0, key=key
        )
    with pytest.raises(ValueError, match="depth"):
        MLPActorCriticPolicy(observation_space=obs, action_space=act, depth=-1, key=key)
    with pytest.raises(ValueError, match="lerax space"):
        MLPActorCriticPolicy(observation_space=(3,), action_space=act, key=key)


def test_bad_call_arguments_raise_at_trace_time():
    policy = _make_policy("box", "box")
    state = NullPolicyState()
    batched_obs = jnp.zeros((5, 4))
    with pytest.raises(ValueError, match="observation has shape \\(5, 4\\)"):
        eqx.filter_eval_shape(policy.value, state, batched_obs)
    with pytest.raises(ValueError, match="no action_mask"):
        eqx.filter_eval_shape(
            lambda: policy(state, jnp.zeros(4), action_mask=jnp.ones(4, bool))
        )
    with pytest.raises(ValueError, match="action has shape"):
        eqx.filter_eval_shape(
            lambda: policy.evaluate_action(state, jnp.zeros(4), jnp.zeros(3))
        )
    discrete = _make_policy("box", "discrete")
    with pytest.raises(ValueError, match="mask has shape"):
        eqx.filter_eval_shape(
            lambda: discrete(state, jnp.zeros(4), action_mask=jnp.ones(2, bool))
        )


def _count_matmuls(jaxpr) -> int:
    count = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            count += 1
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            count += _count_matmuls(sub)
    return count


def test_each_network_runs_once_per_call():
    policy = _make_policy("box", "discrete")
    state, obs, key = NullPolicyState(), jnp.zeros(4), jax.random.key(0)
    layers = DEPTH + 1

    def count(fn) -> int:
        return _count_matmuls(jax.make_jaxpr(fn)().jaxpr)

    assert count(lambda: policy.action_and_value(state, obs, key=key)) == 2 * layers
    assert (
        count(lambda: policy.evaluate_action(state, obs, jnp.asarray(1))) == 2 * layers
    )
    assert count(lambda: policy.value(state, obs)) == layers
    assert count(lambda: policy(state, obs, key=key)) == layers


def test_log_prob_gradients_are_finite_under_masks():
    policy = _make_policy("box", "discrete")
    mask = jnp.array([True, False, True, True])

    @eqx.filter_jit
    @eqx.filter_grad
    def grad(policy):
        _, value, log_prob, entropy = policy.evaluate_action(
            NullPolicyState(), jnp.full(4, 0.5), jnp.asarray(2), action_mask=mask
        )
        return log_prob + entropy + value

    grads = grad(policy)
    leaves = jax.tree.leaves(eqx.filter(grads, eqx.is_inexact_array))
    assert leaves and all(np.isfinite(np.asarray(g)).all() for g in leaves)
    assert any(np.abs(np.asarray(g)).sum() > 0 for g in leaves)


def test_multidimensional_box_actions():
    policy = MLPActorCriticPolicy(
        observation_space=OBS_SPACES["box"],
        action_space=Box(-1.0, 1.0, shape=(2, 2)),
        key=jax.random.key(0),
        width_size=WIDTH,
    )
    assert policy.log_std.shape == (2, 2)

    @eqx.filter_jit
    def run(policy):
        obs = jnp.array([0.1, -0.2, 0.3, 0.0])
        _, action, _, log_prob = policy.action_and_value(
            NullPolicyState(), obs, key=jax.random.key(1)
        )
        _, mean = policy(NullPolicyState(), obs)
        return action, log_prob, mean, policy.actor(obs)

    action, log_prob, mean, raw = (np.asarray(x) for x in run(policy))
    assert action.shape == (2, 2) and mean.shape == (2, 2)
    np.testing.assert_allclose(mean, raw.reshape(2, 2), rtol=1e-6)
    # The log_std is initialised to 0, so the density is a standard normal's.
    want = (-0.5 * (action - mean) ** 2 - 0.5 * np.log(2 * np.pi)).sum()
    np.testing.assert_allclose(log_prob, want, rtol=1e-5)
