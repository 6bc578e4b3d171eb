"""Sending each iteration's metrics to logging backends from the compiled run."""

from __future__ import annotations

import atexit
import weakref
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Int, Key

from lerax._host import delivery_time, emit, lookup, register, settle
from lerax._sharding import spread_over_devices

from ._base import (
    AbstractCallbackState,
    IterationContext,
    ResetContext,
)
from ._episode_statistics import AbstractEpisodeCallback
from ._logging_backend import LEADING_COLUMNS, AbstractLoggingBackend
from ._recent_episodes import RecentEpisodes, hyperparameters_of, rollout_of

EVAL_COLUMNS = (
    "eval_return_mean",
    "eval_return_std",
    "eval_length_mean",
    "eval_length_std",
)

_OPEN_HOSTS: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_open_hosts() -> None:
    settle()
    for host in list(_OPEN_HOSTS):
        host.close()


def _python(value: np.ndarray) -> Any:
    if value.dtype == np.float32:
        # The shortest decimal that is the same float32 (0.2, not 0.2000000029...).
        return float(str(value))
    return value.item()


class LoggingHost:
    """The host side of a `LoggingCallback`: backends and the run's clock.

    Attributes:
        backends: The backends rows go to.
        with_eval: Whether an `EvalCallback` reports through this logger (its
            columns are then part of every row).
        eval_agent_columns: The per-agent evaluation columns
            (`eval_return_mean/<agent>`) of an `EvalCallback` on an
            `AgentBatchEnv`; empty otherwise.
    """

    def __init__(self, backends: tuple[AbstractLoggingBackend, ...]):
        self.backends = backends
        self.with_eval = False
        self.eval_agent_columns: tuple[str, ...] = ()
        self._open = False
        self._columns: tuple[str, ...] | None = None
        self._pending_eval: list[dict[str, Any]] = []
        self._start_time = 0.0
        self._last_time = 0.0
        self._last_timesteps = 0
        self._started_by_rows = False
        self._num_runs = 0
        self._hyperparameters: list[dict[str, Any]] = [{}]
        # Rows are written by the background delivery thread, off the run's path.
        self.asynchronous = True

    def receive(self, event: str, data: dict[str, np.ndarray], num_runs: int) -> None:
        """Handle a delivery from the compiled run.

        Args:
            event: `"start"`, `"iteration"` or `"eval"`.
            data: The values, each with a leading axis of length `num_runs`.
            num_runs: The number of runs (seeds) in the batch.
        """
        if event == "start":
            if bool(data["unordered"][0]) and self._started_by_rows:
                # The late start of a run whose rows came first (unordered
                # callbacks of a sharded run): its rows and files stay.
                self._started_by_rows = False
                return
            self._start(data["hyperparameters"], num_runs)
        elif event == "eval":
            self._ensure_open(num_runs)
            self._pending_eval = [
                {k: _python(data[k][i]) for k in self._eval_columns()}
                for i in range(num_runs)
            ]
        elif event == "iteration":
            if not bool(data["should_log"][0]):
                return
            self._ensure_open(num_runs)
            self._iteration(data, num_runs)

    def _ensure_open(self, num_runs: int) -> None:
        if self._open:
            return
        if self._num_runs == num_runs:
            # A run continued by `resume` after its planned last iteration: the
            # files are continued (backends reopen them for appending).
            self._open = True
            _OPEN_HOSTS.add(self)
            self._last_time = delivery_time()
        else:
            self._start({}, num_runs)
            self._started_by_rows = True

    def _start(self, data: Any, num_runs: int, *, as_rows: bool = False) -> None:
        self.close()
        if as_rows:
            hyperparameters = list(data)
        else:
            hyperparameters = [
                {k: _python(v[i]) for k, v in data.items()} for i in range(num_runs)
            ]
        self._hyperparameters = hyperparameters or [{}]
        self._num_runs = num_runs
        for backend in self.backends:
            backend.start(hyperparameters)
        self._open = True
        _OPEN_HOSTS.add(self)
        self._columns = None
        self._pending_eval = []
        self._start_time = self._last_time = delivery_time()
        self._last_timesteps = 0

    def _iteration(self, data: dict[str, np.ndarray], num_runs: int) -> None:
        if num_runs != self._num_runs:
            # Nothing differed between runs at the start: restart with N copies.
            self._start(self._hyperparameters[:1] * num_runs, num_runs, as_rows=True)
        now = delivery_time()
        timesteps = int(data["timesteps"][0])
        rate = (timesteps - self._last_timesteps) / max(now - self._last_time, 1e-9)
        self._last_time, self._last_timesteps = now, timesteps
        log = data["log"]
        # Each agent's episode return, for a team (empty otherwise).
        agent_returns = data["agent_returns"]
        if self._columns is None:
            self._columns = (
                LEADING_COLUMNS
                + tuple(agent_returns)
                + tuple(log)
                + self._eval_columns()
            )
        rows = []
        for i in range(num_runs):
            row: dict[str, Any] = {
                "seed": i,
                "iteration": int(data["iteration"][i]),
                "timesteps": int(data["timesteps"][i]),
                "wall_time": now - self._start_time,
                "steps_per_second": rate,
                "episode_return": _python(data["episode_return"][i]),
                "episode_length": _python(data["episode_length"][i]),
                "episodes": int(data["episodes"][i]),
            }
            row.update({k: _python(v[i]) for k, v in agent_returns.items()})
            row.update({k: _python(v[i]) for k, v in log.items()})
            if self._pending_eval:
                row.update(self._pending_eval[i])
            rows.append(row)
        self._pending_eval = []
        for backend in self.backends:
            backend.write(rows, self._columns)
        if int(data["iteration"][0]) >= int(data["num_iterations"][0]):
            self.close()

    def _eval_columns(self) -> tuple[str, ...]:
        if not self.with_eval:
            return ()
        return EVAL_COLUMNS + self.eval_agent_columns

    def close(self) -> None:
        """Close every backend (a later run opens them again)."""
        if self._open:
            self._open = False
            _OPEN_HOSTS.discard(self)
            for backend in self.backends:
                backend.close()


class LoggingState(AbstractCallbackState):
    """What a `LoggingCallback` carries: the episode totals at the last row.

    Attributes:
        episodes: Totals and latest means of finished episodes.
        agent_episodes: When the algorithm trains a team (IPPO, MAPPO), the
            same for each agent's return (stacked over the agents); `None`
            otherwise.
        agents: The agents' names (`ResetContext.agents`), or `None`.
    """

    episodes: RecentEpisodes
    # Last, so a single-agent state (where they are `None`) keeps its leaves'
    # order in checkpoints.
    agent_episodes: RecentEpisodes | None = None
    agents: tuple[str, ...] | None = eqx.field(static=True, default=None)


class LoggingCallback(AbstractEpisodeCallback):
    """Write every `every`-th iteration's metrics to logging backends.

    Each row holds `seed`, `iteration` (iterations done, from 1), `timesteps`,
    `wall_time` (seconds since the run started), `steps_per_second` (of one
    run, since the previous row), `episode_return` and `episode_length` (mean
    over the episodes finished since the previous row; when none finished, the
    latest such mean, and missing before the first episode ends), `episodes`
    (how many finished), for a team (IPPO, MAPPO: `episode_return` is then the
    team return's) `episode_return/<agent>` for each agent, every entry of the
    algorithm's training log (for PPO the `PPOStats` fields and
    `learning_rate`) and, when an `EvalCallback`
    reports through this logger, `eval_return_mean`, `eval_return_std`,
    `eval_length_mean`, `eval_length_std` (on the row of the iteration it
    evaluated, if it comes before this callback in the list), and, for an
    evaluation of a team (`AgentBatchEnv`), `eval_return_mean/<agent>` for
    each agent.

    Under `jax.vmap` over seeds (or hyperparameters) every row is written once
    per batch member, with `seed` its index, in one host call per iteration.
    The algorithm's hyperparameters are written once, when the run starts.

    The backends live on the host, outside the compiled program (this Module
    holds only an integer handle to them), so a new `LoggingCallback` with the
    same `every` reuses the compiled program.

    Attributes:
        every: Write a row every `every` iterations (and after the last).
        handle: The handle of the host-side backends (an int32 array).
    """

    every: int = eqx.field(static=True)
    handle: Int[Array, ""]

    def __init__(self, backends: Sequence[AbstractLoggingBackend], every: int = 1):
        """Create the callback.

        Args:
            backends: Where rows go (`ConsoleBackend`, `CSVBackend`,
                `JSONLBackend`, `TensorBoardBackend`, `WandbBackend`).
            every: Write a row every `every` iterations (the last iteration
                always writes one).

        Raises:
            TypeError: If a backend is not an `AbstractLoggingBackend`.
            ValueError: If `every` < 1.
        """
        if isinstance(backends, AbstractLoggingBackend):
            backends = (backends,)
        backends = tuple(backends)
        for i, backend in enumerate(backends):
            if not isinstance(backend, AbstractLoggingBackend):
                raise TypeError(
                    f"LoggingCallback: backend {i} is {type(backend).__name__}, "
                    "not an AbstractLoggingBackend."
                )
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(
                f"LoggingCallback: every must be an int >= 1, got {every!r}."
            )
        self.every = every
        self.handle = register(LoggingHost(backends))

    @property
    def host(self) -> LoggingHost:
        """The host-side object holding the backends."""
        return lookup(self.handle)

    @property
    def backends(self) -> tuple[AbstractLoggingBackend, ...]:
        """The backends rows go to."""
        return self.host.backends

    def close(self) -> None:
        """Close the backends now (runs close them after their last iteration).

        Rows the run has already sent are written first.
        """
        settle()
        self.host.close()

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> LoggingState:
        """Start the run on the host (hyperparameters are written here).

        Args:
            ctx: The run's sizes and algorithm.
            key: Ignored.

        Returns:
            Zero episode totals.
        """
        hyperparameters = {
            **hyperparameters_of(ctx.algorithm),
            "num_iterations": jnp.asarray(ctx.num_iterations),
            "total_timesteps": jnp.asarray(ctx.total_timesteps),
        }
        # The key differs between vmapped seeds, so the host learns how many
        # runs there are even when no hyperparameter is batched.
        emit(
            self.handle,
            "start",
            {
                "hyperparameters": hyperparameters,
                "key": jax.random.key_data(key),
                # Sharded over a mesh, host callbacks are unordered: this start
                # may arrive after the run's first rows.
                "unordered": jnp.asarray(spread_over_devices()),
            },
        )
        episodes = RecentEpisodes.initial(ctx.num_envs)
        if ctx.agents is None:
            return LoggingState(episodes=episodes)
        return LoggingState(
            episodes=episodes,
            agent_episodes=jax.tree.map(
                lambda x: jnp.repeat(x[None], len(ctx.agents), axis=0), episodes
            ),
            agents=ctx.agents,
        )

    def on_iteration(
        self, ctx: IterationContext, *, key: Key[Array, ""]
    ) -> LoggingState:
        """Send this iteration's row to the host, if it is one to write.

        Args:
            ctx: The iteration's data.
            key: Ignored.

        Returns:
            The episode totals at the last written row.

        Raises:
            ValueError: At trace time, if the run was reset for a team but the
                context carries no `agent_rewards`.
        """
        state = ctx.state
        assert isinstance(state, LoggingState)
        done = ctx.iteration + 1
        should_log = (done % self.every == 0) | (done >= ctx.num_iterations)
        log = {
            k: jnp.asarray(v, jnp.float32)
            for k, v in ctx.log.items()
            if jnp.ndim(v) == 0
        }

        def write(carry):
            episodes, agent_episodes = carry
            episodes, metrics = episodes.report()
            agent_returns = {}
            if agent_episodes is not None:
                agent_episodes, agent_metrics = jax.vmap(RecentEpisodes.report)(
                    agent_episodes
                )
                agent_returns = {
                    f"episode_return/{agent}": agent_metrics["episode_return"][i]
                    for i, agent in enumerate(state.agents)
                }
            emit(
                self.handle,
                "iteration",
                {
                    "should_log": should_log,
                    "iteration": done,
                    "num_iterations": jnp.asarray(ctx.num_iterations),
                    "timesteps": ctx.timesteps,
                    **metrics,
                    "agent_returns": agent_returns,
                    "log": log,
                },
                final=done >= ctx.num_iterations,
            )
            return episodes, agent_episodes

        episodes = state.episodes.observe(ctx, "LoggingCallback")
        agent_episodes = state.agent_episodes
        if agent_episodes is not None:
            if ctx.agent_rewards is None:
                raise ValueError(
                    "LoggingCallback: the run's ResetContext named agents, but "
                    "this IterationContext has no agent_rewards."
                )
            _, dones = rollout_of(ctx, "LoggingCallback")
            agent_episodes = jax.vmap(
                lambda e, r: e.observe_rewards(r, dones), in_axes=(0, -1)
            )(agent_episodes, ctx.agent_rewards)
        episodes, agent_episodes = jax.lax.cond(
            should_log, write, lambda c: c, (episodes, agent_episodes)
        )
        return LoggingState(
            episodes=episodes, agent_episodes=agent_episodes, agents=state.agents
        )
