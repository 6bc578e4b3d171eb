"""Tuned PPO configurations for the gymnax classic-control environments.

`lerax.presets.ppo("CartPole-v1")` returns a `PPOPreset`: the algorithm, the
policy's keyword arguments, the budget and the score that counts as solved.
Their measured learning results are in the docs (Presets), produced by
`benchmarks/presets.py`.
"""

from ._ppo import PPOPreset as PPOPreset, available as available, ppo as ppo

__all__ = ["PPOPreset", "available", "ppo"]
