"""The lerax side of the benchmark: ``PPO().learn_state`` behind the harness interface.

Two entry points are timed: ``train`` (``learn_state`` inside the harness's own
``jax.jit``, the harness path) and ``user_call`` (``algorithm.learn(env, policy,
total_timesteps, key=key)`` called as the README writes it: the path users take).

Same env (gymnax, default params, through ``GymnaxToLeraxEnv``), same network
(``MLPActorCriticPolicy`` defaults), same hyperparameters (``PPO`` defaults with the
configuration's sizes) as the plain PPO in ``plain_ppo.py``. The training return is
read from an ``EpisodeStatisticsCallback`` carried through the compiled run, the
counterpart of the plain PPO's in-scan episode bookkeeping.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from implementations import BenchConfig, Built, Implementation
from plain_ppo import FINAL_FRACTION

from lerax.algorithm import PPO
from lerax.callback import EpisodeStatisticsCallback
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import MLPActorCriticPolicy


class LeraxImplementation(Implementation):
    """lerax's ``PPO`` with ``MLPActorCriticPolicy``, both at their defaults."""

    name = "lerax"

    def build(self, config: BenchConfig) -> Built:
        """See :meth:`Implementation.build`."""
        env = GymnaxToLeraxEnv.from_name(config.env_name)
        algorithm = PPO(
            num_envs=config.num_envs,
            num_steps=config.num_steps,
            num_epochs=config.num_epochs,
            num_batches=config.num_batches,
        )
        callback = EpisodeStatisticsCallback()

        def make_policy(key):
            return MLPActorCriticPolicy(env=env, key=key)

        # The policy's non-array parts (spaces, activation) are fixed; only its
        # arrays cross the compiled program's boundary, and are recombined inside.
        _, policy_static = eqx.partition(make_policy(jax.random.key(0)), eqx.is_array)

        def init(key):
            return eqx.filter(make_policy(key), eqx.is_array)

        def train(key, policy_arrays):
            state = algorithm.learn_state(
                env,
                eqx.combine(policy_arrays, policy_static),
                config.total_timesteps,
                key=key,
                callback=callback,
            )
            policy, stats = state.policy, state.callback_state
            return {
                "policy": eqx.filter(policy, eqx.is_array),
                "episodes": stats.episodes,
                "mean_return": stats.mean_return,
            }

        def action_fn(output):
            policy = eqx.combine(output["policy"], policy_static)

            def act(obs, key):
                _, action = policy(policy.reset(key=key), obs)
                return action

            return act

        def training_return(output):
            episodes = output["episodes"]
            window = max(1, math.ceil(FINAL_FRACTION * episodes.shape[-1]))
            episodes = episodes[-window:]
            returns = jnp.where(episodes > 0, output["mean_return"][-window:], 0.0)
            count = episodes.sum()
            total = (returns * episodes).sum()
            return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)

        # The README's call: a policy built once, eagerly, then `learn` (vmapped
        # over the keys for several seeds, every seed from the same policy).
        user_policy = make_policy(jax.random.key(0))

        def user_call(keys):
            if config.num_seeds == 1:  # the harness passes one unbatched key
                return algorithm.learn(
                    env, user_policy, config.total_timesteps, key=keys
                )
            return jax.vmap(
                lambda key: algorithm.learn(
                    env, user_policy, config.total_timesteps, key=key
                )
            )(keys)

        return Built(
            init=init,
            train=train,
            action_fn=action_fn,
            training_return=training_return,
            user_call=user_call,
        )
