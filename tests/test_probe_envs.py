"""PPO and A2C learn the exact values and optimal actions of the probe envs.

See `probe_envs.py` for the five environments. Each algorithm trains on all
five at once (`jax.vmap` over the env: one compile per algorithm) and is then
checked against answers worked out by hand, with `gamma = 0.9`:

- constant: `V([0]) = 1` (a termination bootstrapped from would give 10);
- obs-dependent: `V([+1]) = +1`, `V([-1]) = -1` (a sign error flips them);
- two-step: `V([0]) = gamma = 0.9`, `V([1]) = 1` (no discount would give 1,
  double discount 0.81);
- action: the mode is action 1 with probability > 0.95, and `V([0])` is the
  exact value of the learned policy, `2 p - 1`;
- action-and-obs: the mode is 1 on `[+1]` and 0 on `[-1]`, and each value is
  `2 p - 1` with `p` that observation's probability of the right action.

Tolerance: the rewards are deterministic and `gae_lambda = 1`, so the critic's
targets are exact Monte Carlo returns and its error is optimisation error
alone (measured below 0.002 at these budgets). `0.02` leaves room for that and
is under a quarter of the smallest error a discount, sign or bootstrap bug
makes here (0.09, for the two-step probe).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.algorithm import A2C, PPO
from lerax.policy import MLPActorCriticPolicy, NullPolicyState
from probe_envs import (
    ACTION_AND_OBS,
    ACTION_DEPENDENT,
    CONSTANT,
    KINDS,
    OBS_DEPENDENT,
    TWO_STEP,
    ProbeEnv,
    probe_envs,
)

GAMMA = 0.9
TOL = 0.02
SIZES = dict(num_envs=8, num_steps=16, gamma=GAMMA, gae_lambda=1.0)
ALGORITHMS = {
    # (algorithm, iterations): budgets about 2x what converged in trials.
    "PPO": (
        PPO(num_epochs=4, num_batches=4, learning_rate=3e-3, **SIZES),
        40,
    ),
    "A2C": (A2C(learning_rate=5e-3, **SIZES), 150),
}


def _train(algo, iterations):
    policy = MLPActorCriticPolicy(
        env=ProbeEnv(0), width_size=16, depth=1, key=jax.random.key(0)
    )
    total = iterations * algo.num_envs * algo.num_steps

    @eqx.filter_jit
    def train_all(envs, key):
        return jax.vmap(lambda env: algo.learn(env, policy, total, key=key))(envs)

    trained = train_all(probe_envs(), jax.random.key(1))
    return [
        jax.tree.map(lambda x, k=k: x[k] if eqx.is_array(x) else x, trained)
        for k in range(len(KINDS))
    ]


@pytest.fixture(scope="module", params=list(ALGORITHMS))
def trained(request):
    algo, iterations = ALGORITHMS[request.param]
    return _train(algo, iterations)


def value(policy, obs):
    return float(policy.value(NullPolicyState(), jnp.array([obs]))[1])


def prob(policy, obs, action):
    _, _, log_prob, _ = policy.evaluate_action(
        NullPolicyState(), jnp.array([obs]), jnp.asarray(action)
    )
    return float(np.exp(log_prob))


def mode(policy, obs):
    return int(policy(NullPolicyState(), jnp.array([obs]))[1])


def test_constant_reward_value_is_one(trained):
    assert value(trained[CONSTANT], 0.0) == pytest.approx(1.0, abs=TOL)


def test_observation_dependent_values_have_the_right_signs(trained):
    policy = trained[OBS_DEPENDENT]
    assert value(policy, 1.0) == pytest.approx(1.0, abs=TOL)
    assert value(policy, -1.0) == pytest.approx(-1.0, abs=TOL)


def test_two_step_values_are_discounted_once(trained):
    policy = trained[TWO_STEP]
    assert value(policy, 0.0) == pytest.approx(GAMMA, abs=TOL)
    assert value(policy, 1.0) == pytest.approx(1.0, abs=TOL)


def test_action_dependent_reward_picks_the_rewarded_action(trained):
    policy = trained[ACTION_DEPENDENT]
    p = prob(policy, 0.0, 1)
    assert mode(policy, 0.0) == 1 and p > 0.95
    assert value(policy, 0.0) == pytest.approx(2 * p - 1, abs=TOL)


@pytest.mark.parametrize("obs, right", [(1.0, 1), (-1.0, 0)])
def test_action_and_observation_dependent_reward(trained, obs, right):
    policy = trained[ACTION_AND_OBS]
    p = prob(policy, obs, right)
    assert mode(policy, obs) == right and p > 0.95
    assert value(policy, obs) == pytest.approx(2 * p - 1, abs=TOL)
