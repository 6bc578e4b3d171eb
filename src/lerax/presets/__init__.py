"""Tuned PPO and PQN configurations for the gymnax classic-control environments.

`lerax.presets.ppo("CartPole-v1")` returns a `PPOPreset`: the algorithm, the
policy's keyword arguments, the budget and the score that counts as solved.
Their measured learning results are in the docs (Presets), produced by
`benchmarks/presets.py`. `lerax.presets.pqn("CartPole-v1")` returns a
`PQNPreset`, the same for `lerax.algorithm.PQN` (measured by
`benchmarks/pqn.py`).
"""

from ._ppo import PPOPreset as PPOPreset, available as available, ppo as ppo
from ._pqn import PQNPreset as PQNPreset, available_pqn as available_pqn, pqn as pqn

__all__ = ["PPOPreset", "PQNPreset", "available", "available_pqn", "ppo", "pqn"]
