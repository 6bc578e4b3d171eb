"""`EpisodeTracker` (episodes counted once per rollout) against a per-step loop."""

import jax
import numpy as np
import pytest

from lerax.callback import EpisodeTracker


def _per_step_reference(rollouts):
    """Walk every step in order, as a per-step hook would; NumPy float64."""
    num_envs = rollouts[0][0].shape[1]
    running_return = np.zeros(num_envs)
    running_length = np.zeros(num_envs, int)
    reports = []
    for rewards, dones in rollouts:
        finished_returns, finished_lengths = [], []
        for t in range(rewards.shape[0]):
            running_return += rewards[t]
            running_length += 1
            for e in range(num_envs):
                if dones[t, e]:
                    finished_returns.append(running_return[e])
                    finished_lengths.append(running_length[e])
                    running_return[e] = 0.0
                    running_length[e] = 0
        reports.append((finished_returns, finished_lengths))
    return reports


@pytest.mark.parametrize("done_rate", [0.0, 0.02, 0.3, 1.0])
def test_tracker_matches_a_per_step_count(done_rate):
    rng = np.random.default_rng(int(done_rate * 100))
    num_steps, num_envs = 17, 5
    rollouts = [
        (
            rng.normal(size=(num_steps, num_envs)).astype(np.float32),
            rng.random((num_steps, num_envs)) < done_rate,
        )
        for _ in range(6)
    ]
    observe = jax.jit(lambda tr, r, d: tr.observe(r, d))
    tracker = EpisodeTracker.initial(num_envs)
    for (rewards, dones), (returns, lengths) in zip(
        rollouts, _per_step_reference(rollouts), strict=True
    ):
        tracker = observe(tracker, rewards, dones)
        mean_return, mean_length = tracker.means()
        assert int(tracker.count) == len(returns)
        assert int(tracker.length_sum) == sum(lengths)
        np.testing.assert_allclose(
            float(tracker.return_sum), sum(returns), rtol=1e-5, atol=1e-4
        )
        if returns:
            np.testing.assert_allclose(
                float(mean_return), np.mean(returns), rtol=1e-5, atol=1e-4
            )
            np.testing.assert_allclose(float(mean_length), np.mean(lengths))
        else:
            assert np.isnan(float(mean_return)) and np.isnan(float(mean_length))
        tracker = tracker.cleared()
        assert int(tracker.count) == 0 and float(tracker.return_sum) == 0.0


def test_episode_spanning_three_rollouts_by_hand():
    # One env: reward 1 per step, done only at step 2 of the third rollout of 4
    # steps: the episode is 4 + 4 + 3 = 11 steps long, return 11.
    rewards = np.ones((4, 1), np.float32)
    never = np.zeros((4, 1), bool)
    at_two = never.copy()
    at_two[2, 0] = True
    tracker = EpisodeTracker.initial(1)
    for dones in (never, never):
        tracker = tracker.observe(rewards, dones)
        assert int(tracker.count) == 0
    tracker = tracker.observe(rewards, at_two)
    assert int(tracker.count) == 1
    assert float(tracker.return_sum) == 11.0 and int(tracker.length_sum) == 11
    # The step after the done starts the next episode.
    assert float(tracker.partial_return[0]) == 1.0
    assert int(tracker.partial_length[0]) == 1
