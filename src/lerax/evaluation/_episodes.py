"""The episode loop shared by `evaluate_policy` and `evaluate_team`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import jax
import jax.numpy as jnp
from jaxtyping import Array, Key

EpisodeType = TypeVar("EpisodeType")


def play_episodes(
    start: Callable[[Key[Array, ""]], EpisodeType],
    step: Callable[[EpisodeType], EpisodeType],
    *,
    key: Key[Array, ""],
    num_episodes: int,
    max_steps: int,
) -> EpisodeType:
    """Play `num_episodes` episodes side by side until all end or `max_steps`.

    Args:
        start: Builds one episode's carry from its key; the carry is a pytree
            with a boolean `done` leaf.
        step: Advances one episode's carry by one environment step.
        key: The key split into one per episode.
        num_episodes: How many episodes.
        max_steps: The most steps any episode takes.

    Returns:
        The episodes' final carries, stacked. A finished episode stays as it
        ended while the others play on.
    """

    def advance(episode):
        moved = step(episode)
        return jax.tree.map(
            lambda old, new: jnp.where(episode.done, old, new), episode, moved
        )

    def cond(carry):
        count, episodes = carry
        return (count < max_steps) & ~jnp.all(episodes.done)

    def body(carry):
        count, episodes = carry
        return count + 1, jax.vmap(advance)(episodes)

    episodes = jax.vmap(start)(jax.random.split(key, num_episodes))
    _, episodes = jax.lax.while_loop(cond, body, (jnp.asarray(0), episodes))
    return episodes
