"""`EvalCallback` on a run shorter than its interval: no evaluation, no crash."""

import jax

from helpers import ChainEnv
from lerax.algorithm import PPO
from lerax.callback import EvalCallback, EvalState
from lerax.policy import MLPActorCriticPolicy


def test_interval_longer_than_the_run_records_nothing():
    env = ChainEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    algorithm = PPO(num_envs=2, num_steps=8, num_epochs=1, num_batches=2)
    # 2 iterations, evaluation every 5: nothing is due (this used to raise
    # IndexError on the empty history).
    state = algorithm.learn_state(
        env,
        policy,
        2 * 16,
        key=jax.random.key(1),
        callback=EvalCallback(env, every_iterations=5, num_episodes=2),
    )
    record = state.callback_state
    assert isinstance(record, EvalState)
    assert record.iteration.shape == (0,)
    assert int(record.best_iteration) == -1
