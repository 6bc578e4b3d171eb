"""Population-based training as one compiled program.

A population of members (policy, optimiser state, env state and the explored
hyperparameters, all stacked along a leading member axis) trains as a
`jax.vmap` of the on-policy iteration. Every `interval` iterations, still inside
the program, the members are ranked by a fitness, the bottom fraction copies the
weights and optimiser state of members drawn from the top fraction (exploit)
and perturbs or resamples the copied hyperparameters (explore), as in Jaderberg
et al. (2017), "Population Based Training of Neural Networks". The intervals
are a `lax.fori_loop` with traced bounds, so the whole run, a part of it and its
continuation all reuse one compiled program.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, Key

from lerax._checks import check_size
from lerax._key import check_key
from lerax._optional import import_extra
from lerax._serialization import structure_entries
from lerax._sharding import check_mesh, runs_split, shard_along, tracing_on
from lerax.algorithm import (
    AbstractOnPolicyAlgorithm,
    OnPolicyState,
    filter_scan,
    raise_if_faulted,
)
from lerax.callback import (
    AbstractCallback,
    AbstractCallbackState,
    AbstractCallbackStepState,
    EpisodeStatisticsCallback,
    IterationContext,
    ListCallback,
    ListCallbackState,
    ResetContext,
    StepContext,
)
from lerax.checkpoint import Checkpointer
from lerax.env import AbstractEnvLike

from ._curriculum import AbstractCurriculum, curriculum_step
from ._seeds import PolicySource, prepare
from ._sweep import _check_values, _with_values, sweepable_fields

Fitness = Callable[[OnPolicyState, Float[Array, " interval"]], Float[Array, ""]]

# Jaderberg et al. (2017): perturb a copied hyperparameter by one of these.
PERTURB_FACTORS = (0.8, 1.2)


def recent_mean_return(
    state: OnPolicyState, returns: Float[Array, " interval"]
) -> Float[Array, ""]:
    """The default fitness: the mean episode return of the last interval.

    Args:
        state: The member's state after the interval (unused).
        returns: The member's mean episode return in each iteration of the
            interval (NaN where no episode ended).

    Returns:
        The mean over the iterations in which an episode ended (NaN if none did;
        ranked last).
    """
    del state
    finite = ~jnp.isnan(returns)
    total = jnp.sum(jnp.where(finite, returns, 0.0))
    count = jnp.sum(finite)
    return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)


class PBTState(eqx.Module):
    """The whole population between intervals: what a resumed run continues from.

    Attributes:
        members: The members' on-policy states, stacked (leading axis
            `population_size`).
        hyperparameters: Each explored field's current value per member.
        key: The key the exploit and explore steps draw from.
        interval_count: Intervals completed.
        history: Each explored field's value per member during each interval,
            shape `(num_intervals, population_size)` (NaN for intervals not run).
        fitness: Each member's fitness at the end of each interval.
        parents: After the exploit step at the end of interval `t`, member `k`
            trains on from the weights of member `parents[t, k]` (`k` itself if
            it kept its own). The last row is the identity.
        curriculum_state: The curriculum's state per member (`None` without a
            curriculum).
    """

    members: OnPolicyState
    hyperparameters: dict[str, Float[Array, " population"]]
    key: Key[Array, ""]
    interval_count: Int[Array, ""]
    history: dict[str, Float[Array, "num_intervals population"]]
    fitness: Float[Array, "num_intervals population"]
    parents: Int[Array, "num_intervals population"]
    curriculum_state: object = None


@dataclasses.dataclass(frozen=True)
class _Search:
    # The explored fields and their bounds, in a fixed order.
    names: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]

    def log_scale(self, i: int) -> bool:
        # Positive ranges are explored on a log scale (learning rates span decades).
        return self.low[i] > 0.0


def _prior(
    search: _Search, key: Key[Array, ""], shape: tuple[int, ...]
) -> dict[str, Float[Array, "..."]]:
    """Draw values from the search space: log-uniform where low > 0, else uniform."""
    out = {}
    for i, name in enumerate(search.names):
        u = jax.random.uniform(jax.random.fold_in(key, i), shape, jnp.float32)
        lo, hi = search.low[i], search.high[i]
        if search.log_scale(i):
            value = jnp.exp(np.log(lo) + u * (np.log(hi) - np.log(lo)))
        else:
            value = lo + u * (hi - lo)
        out[name] = jnp.clip(value.astype(jnp.float32), lo, hi)
    return out


class ExploitDraws(eqx.Module):
    """The random numbers one exploit-and-explore step uses.

    Attributes:
        choice: For each of the `num_replaced` bottom members, which top member
            it copies (an index into the top members, best first).
        up: Per member and field: perturb by 1.2 (True) or 0.8 (False).
        resample: Per member and field: resample from the search space instead
            of perturbing.
        prior: Per member and field: the value a resample takes.
    """

    choice: Int[Array, " num_replaced"]
    up: dict[str, Bool[Array, " population"]]
    resample: dict[str, Bool[Array, " population"]]
    prior: dict[str, Float[Array, " population"]]


def exploit_draws(
    key: Key[Array, ""],
    search: _Search,
    population_size: int,
    num_replaced: int,
    resample_probability: float,
) -> ExploitDraws:
    """Draw the random numbers of one exploit-and-explore step.

    Args:
        key: A JAX PRNG key.
        search: The explored fields and their bounds.
        population_size: The number of members.
        num_replaced: How many bottom members copy a top member.
        resample_probability: The chance a copied hyperparameter is resampled.

    Returns:
        The draws.
    """
    choice_key, up_key, resample_key, prior_key = jax.random.split(key, 4)
    shape = (population_size,)
    return ExploitDraws(
        choice=jax.random.randint(choice_key, (num_replaced,), 0, num_replaced),
        up={
            n: jax.random.bernoulli(jax.random.fold_in(up_key, i), 0.5, shape)
            for i, n in enumerate(search.names)
        },
        resample={
            n: jax.random.bernoulli(
                jax.random.fold_in(resample_key, i), resample_probability, shape
            )
            for i, n in enumerate(search.names)
        },
        prior=_prior(search, prior_key, shape),
    )


def exploit_explore(
    fitness: Float[Array, " population"],
    hyperparameters: Mapping[str, Float[Array, " population"]],
    search: _Search,
    draws: ExploitDraws,
) -> tuple[Int[Array, " population"], dict[str, Float[Array, " population"]]]:
    """Rank, choose who copies whom, and explore the copied hyperparameters.

    Members are ranked by fitness, best first (NaN ranks last; ties keep the
    member order). The `num_replaced` worst each copy a top member
    (`draws.choice`); their hyperparameters become the source's, times 0.8 or
    1.2 (`draws.up`) clipped to the bounds, or a fresh draw from the search
    space where `draws.resample`. Other members keep theirs.

    Args:
        fitness: Each member's fitness.
        hyperparameters: Each explored field's value per member.
        search: The explored fields and their bounds.
        draws: The random numbers (`exploit_draws`).

    Returns:
        The source of each member's weights (its own index if kept) and the
        new hyperparameters.
    """
    population = fitness.shape[0]
    num_replaced = draws.choice.shape[0]
    ranked = jnp.where(jnp.isnan(fitness), -jnp.inf, fitness)
    order = jnp.argsort(-ranked, stable=True)
    top, bottom = order[:num_replaced], order[population - num_replaced :]
    source = jnp.arange(population, dtype=jnp.int32).at[bottom].set(top[draws.choice])
    replaced = jnp.zeros((population,), bool).at[bottom].set(True)
    explored = {}
    for i, name in enumerate(search.names):
        copied = hyperparameters[name][source]
        factor = jnp.where(draws.up[name], *PERTURB_FACTORS[::-1]).astype(jnp.float32)
        perturbed = jnp.clip(copied * factor, search.low[i], search.high[i])
        new = jnp.where(draws.resample[name], draws.prior[name], perturbed)
        explored[name] = jnp.where(replaced, new, hyperparameters[name])
    return source, explored


def _copy_members(members: OnPolicyState, source: Int[Array, " population"]):
    # Exploit: the policy (weights and observation statistics) and the optimiser
    # state of `source[k]` replace member k's; env state, key and records stay.
    def take(tree):
        dynamic, static = eqx.partition(tree, eqx.is_array)
        return eqx.combine(jax.tree.map(lambda x: x[source], dynamic), static)

    return dataclasses.replace(
        members, policy=take(members.policy), opt_state=take(members.opt_state)
    )


class _LineageState(AbstractCallbackState):
    # What a member's rows say about its lineage: the member whose weights it
    # copied last (its own index if none), the iteration of that copy (-1 if
    # none) and its explored hyperparameters; `pbt` sets them at every exploit.
    inner: AbstractCallbackState
    source: Int[Array, ""]
    copied_at: Int[Array, ""]
    values: dict[str, Float[Array, ""]]


class _LineageCallback(AbstractCallback):
    # Runs the user's callbacks with the member's lineage added to the training
    # log, so a `LoggingCallback` writes it in the member's row.
    inner: AbstractCallback
    names: tuple[str, ...] = eqx.field(static=True)

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> _LineageState:
        return _LineageState(
            inner=self.inner.reset(ctx, key=key),
            source=jnp.full((), -1, jnp.int32),
            copied_at=jnp.full((), -1, jnp.int32),
            values={n: jnp.full((), jnp.nan, jnp.float32) for n in self.names},
        )

    def step_reset(self, *, key: Key[Array, ""]) -> AbstractCallbackStepState:
        return self.inner.step_reset(key=key)

    def on_step(
        self, ctx: StepContext, *, key: Key[Array, ""]
    ) -> AbstractCallbackStepState:
        return self.inner.on_step(ctx, key=key)

    def on_iteration(
        self, ctx: IterationContext, *, key: Key[Array, ""]
    ) -> _LineageState:
        state = ctx.state
        assert isinstance(state, _LineageState)
        log = {
            **ctx.log,
            "pbt_source": state.source,
            "pbt_copied_at": state.copied_at,
            **{f"pbt_{n}": v for n, v in state.values.items()},
        }
        inner = self.inner.on_iteration(
            dataclasses.replace(ctx, state=state.inner, log=log), key=key
        )
        return dataclasses.replace(state, inner=inner)

    def extend(
        self, state: AbstractCallbackState, ctx: ResetContext
    ) -> AbstractCallbackState:
        assert isinstance(state, _LineageState)
        return dataclasses.replace(state, inner=self.inner.extend(state.inner, ctx))


def _episode_statistics(members: OnPolicyState):
    # The episode statistics the fitness reads: the callback state itself, or
    # the first of a list (with user callbacks, see `pbt`).
    state = members.callback_state
    return state.states[0] if isinstance(state, ListCallbackState) else state


def _with_lineage(
    members: OnPolicyState,
    source: Int[Array, " population"],
    copied_at: Int[Array, " population"],
    values: Mapping[str, Float[Array, " population"]],
) -> OnPolicyState:
    # Write each member's lineage into its `_LineageCallback` state (if any).
    state = members.callback_state
    if not isinstance(state, ListCallbackState):
        return members
    lineage = state.states[1]
    assert isinstance(lineage, _LineageState)
    lineage = dataclasses.replace(
        lineage,
        source=source.astype(jnp.int32),
        copied_at=copied_at.astype(jnp.int32),
        values={n: jnp.asarray(v, jnp.float32) for n, v in values.items()},
    )
    states = (state.states[0], lineage, *state.states[2:])
    return dataclasses.replace(
        members, callback_state=dataclasses.replace(state, states=states)
    )


def _episode_lineage(members: OnPolicyState):
    # Each member's current (source, copied_at), or (own index, -1) without a
    # lineage callback (the values are then unused).
    state = members.callback_state
    if not isinstance(state, ListCallbackState):
        return jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32)
    lineage = state.states[1]
    assert isinstance(lineage, _LineageState)
    return lineage.source, lineage.copied_at


def _on_members(tree: Any, mesh: jax.sharding.Mesh | None) -> Any:
    # With `mesh=`: the member axis (leading) split over the devices.
    if mesh is None:
        return tree
    with tracing_on(mesh):
        return shard_along(tree, 0)


class _Saved(eqx.Module):
    # What a `Checkpointer` writes at an interval's end: the population, and
    # the iterations done (the checkpoint's step).
    iteration_count: Int[Array, ""]
    pbt_state: PBTState


@dataclasses.dataclass(frozen=True)
class _Config:
    # The static settings of one PBT program.
    search: _Search
    population_size: int
    interval: int
    num_intervals: int
    num_replaced: int
    resample_probability: float
    fitness: Fitness
    mesh: jax.sharding.Mesh | None = None


@eqx.filter_jit
def _init(algorithm, env, policies, member_keys, key, config, callback, curriculum):
    num_iterations = config.interval * config.num_intervals
    key, prior_key = jax.random.split(key)
    hyperparameters = _prior(config.search, prior_key, (config.population_size,))

    def one(policy, member_key, values):
        algo = _with_values(algorithm, values)
        return algo.reset(
            env,
            policy,
            key=member_key,
            callback=callback,
            num_iterations=num_iterations,
        )

    members = eqx.filter_vmap(one)(policies, member_keys, hyperparameters)
    members = _with_lineage(
        members,
        jnp.arange(config.population_size),
        jnp.full((config.population_size,), -1),
        hyperparameters,
    )
    shape = (config.num_intervals, config.population_size)
    curriculum_state = None
    if curriculum is not None:
        curriculum_state = jax.vmap(lambda m: curriculum.init(m.env))(members)
    members, hyperparameters, curriculum_state = _on_members(
        (members, hyperparameters, curriculum_state), config.mesh
    )
    return PBTState(
        members=members,
        hyperparameters=hyperparameters,
        key=key,
        interval_count=jnp.zeros((), jnp.int32),
        history={n: jnp.full(shape, jnp.nan) for n in config.search.names},
        fitness=jnp.full(shape, jnp.nan),
        parents=jnp.zeros(shape, jnp.int32),
        curriculum_state=curriculum_state,
    )


def _train_interval(
    algorithm, member, values, curriculum_state, config, callback, curriculum
):
    # One member's `interval` iterations, as `learn`'s loop runs them.
    algo = _with_values(algorithm, values)

    def body(carry, _):
        state, cstate = carry
        if curriculum is None:
            key, iteration_key = jax.random.split(state.key)
        else:
            key, iteration_key, curriculum_key = jax.random.split(state.key, 3)
        state = dataclasses.replace(state, key=key)
        if curriculum is not None:
            state, cstate = curriculum_step(
                curriculum, state, cstate, key=curriculum_key, window=config.interval
            )
        state = algo.iteration(state, key=iteration_key, callback=callback)
        return (state, cstate), None

    (member, curriculum_state), _ = filter_scan(
        body, (member, curriculum_state), length=config.interval
    )
    return member, curriculum_state


@eqx.filter_jit
def _restore(checkpointer, pbt_state, interval):
    # The population of the prepared checkpoint (read inside the program).
    saved = _Saved(pbt_state.interval_count * interval, pbt_state)
    return checkpointer.restore(saved).pbt_state


@eqx.filter_jit
def _advance(algorithm, pbt_state, stop, config, callback, curriculum, checkpointer):
    dynamic, static = eqx.partition(pbt_state, eqx.is_array)
    num_iterations = config.interval * config.num_intervals

    def one_interval(t, dynamic):
        s = eqx.combine(dynamic, static)
        s = dataclasses.replace(
            s,
            members=_on_members(s.members, config.mesh),
            hyperparameters=_on_members(s.hyperparameters, config.mesh),
        )
        members, cstate = eqx.filter_vmap(
            lambda m, v, c: _train_interval(
                algorithm, m, v, c, config, callback, curriculum
            )
        )(s.members, s.hyperparameters, s.curriculum_state)
        members = _on_members(members, config.mesh)
        returns = jax.lax.dynamic_slice_in_dim(
            _episode_statistics(members).mean_return,
            t * config.interval,
            config.interval,
            1,
        )
        fitness = jax.vmap(config.fitness)(members, returns)
        key, draw_key = jax.random.split(s.key)
        draws = exploit_draws(
            draw_key,
            config.search,
            config.population_size,
            config.num_replaced,
            config.resample_probability,
        )
        source, explored = exploit_explore(
            fitness, s.hyperparameters, config.search, draws
        )
        # No exploit after the last interval: the population is returned as trained.
        last = t == config.num_intervals - 1
        source = jnp.where(last, jnp.arange(config.population_size), source)
        explored = {
            n: jnp.where(last, s.hyperparameters[n], v) for n, v in explored.items()
        }
        members = _copy_members(members, source)
        previous = _episode_lineage(members)
        copied = source != jnp.arange(config.population_size)
        members = _with_lineage(
            members,
            jnp.where(copied, source, previous[0]),
            jnp.where(copied, (t + 1) * config.interval, previous[1]),
            explored,
        )
        s = PBTState(
            members=_on_members(members, config.mesh),
            hyperparameters=explored,
            key=key,
            interval_count=s.interval_count + 1,
            history={
                n: s.history[n].at[t].set(s.hyperparameters[n]) for n in s.history
            },
            fitness=s.fitness.at[t].set(fitness),
            parents=s.parents.at[t].set(source.astype(jnp.int32)),
            curriculum_state=cstate,
        )
        if checkpointer is not None:
            checkpointer.maybe_save(
                _Saved((t + 1) * config.interval, s),
                (t + 1) * config.interval - 1,
                num_iterations,
            )
        return eqx.filter(s, eqx.is_array)

    dynamic = jax.lax.fori_loop(pbt_state.interval_count, stop, one_interval, dynamic)
    return eqx.combine(dynamic, static)


class PBTResult(eqx.Module):
    """What `pbt` returns: the population, its records and its lineage.

    Attributes:
        pbt_state: The population after the intervals run (pass it as
            `pbt(..., resume=result)` to continue; `save` writes it).
        interval: Iterations per interval.
        names: The explored fields.
    """

    pbt_state: PBTState
    interval: int = eqx.field(static=True)
    names: tuple[str, ...] = eqx.field(static=True)

    @property
    def state(self) -> OnPolicyState:
        """The members' final states, stacked (`lerax.select(state.policy, k)`)."""
        return self.pbt_state.members

    @property
    def intervals_run(self) -> int:
        """How many intervals have run."""
        return int(self.pbt_state.interval_count)

    @property
    def fitness(self) -> np.ndarray:
        """Each member's fitness at the end of each interval run, `(t, members)`."""
        return np.asarray(self.pbt_state.fitness)[: self.intervals_run]

    @property
    def parents(self) -> np.ndarray:
        """Whose weights each member trains on after each interval, `(t, members)`."""
        return np.asarray(self.pbt_state.parents)[: self.intervals_run]

    @property
    def history(self) -> dict[str, np.ndarray]:
        """Each explored field's value per member during each interval run."""
        n = self.intervals_run
        return {k: np.asarray(v)[:n] for k, v in self.pbt_state.history.items()}

    def best(self) -> int:
        """The member with the highest fitness in the last interval run.

        Returns:
            Its index.

        Raises:
            ValueError: If no interval has run.
        """
        if self.intervals_run == 0:
            raise ValueError("PBTResult.best: no interval has run yet.")
        last = self.fitness[-1]
        return int(np.argmax(np.where(np.isnan(last), -np.inf, last)))

    def lineage(self, member: int | None = None) -> np.ndarray:
        """The member slot whose weights `member` descends from, per interval.

        Args:
            member: A member index (default: `best()`).

        Returns:
            `lineage[t]`: the member whose training in interval `t` produced
            (an ancestor of) `member`'s final weights.
        """
        member = self.best() if member is None else int(member)
        parents = self.parents
        chain = [member]
        for t in range(self.intervals_run - 2, -1, -1):
            chain.append(int(parents[t, chain[-1]]))
        return np.asarray(chain[::-1], dtype=np.int64)

    def schedule(self, member: int | None = None) -> dict[str, np.ndarray]:
        """The hyperparameter schedule that produced `member`'s final weights.

        Follows the lineage back through every copy: entry `t` is the value
        the weights were trained with during interval `t` (the schedule PBT
        discovers).

        Args:
            member: A member index (default: `best()`).

        Returns:
            Field name -> values, one per interval run.
        """
        chain = self.lineage(member)
        steps = np.arange(chain.shape[0])
        return {n: v[steps, chain] for n, v in self.history.items()}

    def copies(self) -> list[dict[str, int]]:
        """Every exploit copy: who copied whom, and when.

        Returns:
            One dict per copy: `interval` (the interval it followed),
            `iteration` (iterations completed at the copy), `member` and
            `source`.
        """
        rows = []
        for t, row in enumerate(self.parents):
            for k, source in enumerate(row):
                if int(source) != k:
                    rows.append(
                        {
                            "interval": t,
                            "iteration": (t + 1) * self.interval,
                            "member": k,
                            "source": int(source),
                        }
                    )
        return rows

    def plot(
        self, output: str | Path | None = None, *, member: int | None = None
    ) -> Any:
        """Draw the population's hyperparameters and fitness over the intervals.

        One panel per explored field (every member's value per interval, thin;
        the schedule of `member`'s lineage, bold) and one of every member's
        fitness. Needs matplotlib (`pip install 'lerax[plot]'`).

        Args:
            output: A file to save the figure to (PNG, SVG, ...), or None.
            member: Whose lineage to draw bold (default: `best()`).

        Returns:
            The matplotlib `Figure`.

        Raises:
            ImportError: If matplotlib is not installed.
            ValueError: If no interval has run.
        """
        figure_module = import_extra(
            "matplotlib.figure", "plot", owner="PBTResult.plot"
        )
        member = self.best() if member is None else int(member)
        history, fitness = self.history, self.fitness
        schedule = self.schedule(member)
        iterations = (np.arange(self.intervals_run) + 1) * self.interval
        panels = len(history) + 1
        figure = figure_module.Figure(figsize=(4 * panels, 3.5), layout="constrained")
        axes = figure.subplots(1, panels, squeeze=False)[0]
        for ax, (name, values) in zip(axes, history.items(), strict=False):
            ax.step(iterations, values, where="pre", color="0.7", linewidth=0.8)
            ax.step(
                iterations,
                schedule[name],
                where="pre",
                color="C0",
                linewidth=2.0,
                label=f"lineage of member {member}",
            )
            if values.min() > 0 and values.max() / values.min() > 10:
                ax.set_yscale("log")
            ax.set_xlabel("iteration")
            ax.set_ylabel(name)
            ax.legend()
        ax = axes[-1]
        ax.plot(iterations, fitness, color="0.7", linewidth=0.8)
        ax.plot(iterations, fitness[:, member], color="C0", linewidth=2.0)
        ax.set_xlabel("iteration")
        ax.set_ylabel("fitness")
        if output is not None:
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            figure.savefig(output, dpi=120)
        return figure

    def save(self, path: str | Path) -> None:
        """Write the population state (`pbt(..., resume=path)` continues from it).

        Args:
            path: The file to write.
        """
        leaves = jax.tree.leaves(eqx.filter(self.pbt_state, eqx.is_array))
        with open(path, "wb") as file:
            np.savez(file, *[np.asarray(_raw(x)) for x in leaves])


def _is_key(x) -> bool:
    return jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _raw(x: Array) -> Array:
    # PRNG keys are stored as their raw data.
    return jax.random.key_data(x) if _is_key(x) else x


def _load(path: str | Path, like: PBTState) -> PBTState:
    dynamic, static = eqx.partition(like, eqx.is_array)
    leaves, treedef = jax.tree.flatten(dynamic)
    with np.load(path) as data:
        raw = [data[f"arr_{i}"] for i in range(len(data.files))]
    if len(raw) != len(leaves) or any(
        r.shape != _raw(x).shape for r, x in zip(raw, leaves, strict=False)
    ):
        raise ValueError(
            f"pbt: {path} holds a population of another configuration "
            "(population, fields, sizes or budget differ)."
        )
    restored = [
        jax.random.wrap_key_data(jnp.asarray(r), impl=jax.random.key_impl(x))
        if _is_key(x)
        else jnp.asarray(r, x.dtype)
        for r, x in zip(raw, leaves, strict=True)
    ]
    return eqx.combine(jax.tree.unflatten(treedef, restored), static)


def _identity(
    algorithm: AbstractOnPolicyAlgorithm, config: _Config, state: PBTState
) -> dict[str, str]:
    # What must match for a checkpoint to continue this population: the
    # algorithm (class, array hyperparameters), the PBT settings and the
    # structure of the whole population state.
    identity = {
        "algorithm": f"{type(algorithm).__module__}.{type(algorithm).__qualname__}",
        "num_iterations": str(config.interval * config.num_intervals),
        "pbt": (
            f"population_size={config.population_size} interval={config.interval} "
            f"num_intervals={config.num_intervals} "
            f"num_replaced={config.num_replaced} "
            f"resample_probability={config.resample_probability} "
            f"search={config.search}"
        ),
    }
    for i, leaf in enumerate(jax.tree.leaves(eqx.filter(algorithm, eqx.is_array))):
        identity[f"algorithm.leaf{i}"] = np.array2string(np.asarray(leaf), precision=8)
    described = jax.tree.map(lambda x: _raw(x) if eqx.is_array(x) else x, state)
    for path, description in structure_entries(described):
        identity[f"state{path}"] = description
    return identity


def _search(
    algorithm: AbstractOnPolicyAlgorithm,
    hyperparameters: Mapping[str, tuple[float, float]],
) -> _Search:
    owner = type(algorithm).__name__
    if not isinstance(hyperparameters, Mapping) or not hyperparameters:
        raise ValueError(
            "pbt: hyperparameters must be a non-empty dict field -> (low, high)."
        )
    sweepable = sweepable_fields(algorithm)
    names, lows, highs = [], [], []
    for name, bounds in hyperparameters.items():
        if name not in sweepable:
            raise ValueError(
                f"pbt: {owner} has no explorable field {name!r} (only array-leaf "
                f"hyperparameters can change inside the program). Explorable: "
                f"{', '.join(sweepable)}."
            )
        try:
            low, high = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise ValueError(
                f"pbt: hyperparameters[{name!r}] must be a pair (low, high), got "
                f"{bounds!r}."
            ) from None
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(
                f"pbt: hyperparameters[{name!r}] must be finite with low < high, got "
                f"({low}, {high})."
            )
        names.append(name)
        lows.append(low)
        highs.append(high)
    # The bounds must lie in the field's declared range: the algorithm's own
    # check names the field and the bad value.
    _check_values(
        algorithm,
        {
            n: np.asarray([lo, hi], np.float32)
            for n, lo, hi in zip(names, lows, highs, strict=True)
        },
    )
    return _Search(tuple(names), tuple(lows), tuple(highs))


def pbt(
    algorithm: AbstractOnPolicyAlgorithm,
    env: AbstractEnvLike,
    policy: PolicySource,
    total_timesteps: int,
    hyperparameters: Mapping[str, tuple[float, float]],
    *,
    population_size: int,
    interval: int,
    key: Key[Array, ""],
    fraction: float = 0.25,
    resample_probability: float = 0.25,
    fitness: Fitness | None = None,
    curriculum: AbstractCurriculum | None = None,
    num_intervals: int | None = None,
    resume: PBTResult | str | Path | None = None,
    callback: Sequence[AbstractCallback] | AbstractCallback | None = None,
    checkpointer: Checkpointer | None = None,
    mesh: jax.sharding.Mesh | None = None,
) -> PBTResult:
    """Population-based training (Jaderberg et al., 2017) as one compiled program.

    `population_size` members, each with its own initial policy, environments
    and key, train as a `jax.vmap` of `algorithm`'s iteration. The explored
    hyperparameters start as draws from their bounds (log-uniform where
    `low > 0`, else uniform). After every `interval` iterations, inside the
    program, each member's fitness is computed (default: its mean episode
    return over the interval); the `floor(fraction * population_size)` worst
    (at least one) each copy the policy and optimiser state of a member drawn
    uniformly from as many of the best (exploit), then multiply each copied
    hyperparameter by 0.8 or 1.2 (clipped to its bounds), or, with
    `resample_probability`, draw it afresh (explore). Nothing returns to the
    host between intervals and nothing recompiles.

    Args:
        algorithm: The algorithm (PPO, A2C, any `AbstractOnPolicyAlgorithm`);
            fields not explored keep its values.
        env: The environment.
        policy: A function `key -> policy` (one initialisation per member), a
            policy, or a sequence of `population_size` policies.
        total_timesteps: The budget per member; its iterations must be a
            multiple of `interval`.
        hyperparameters: Explored field -> `(low, high)` bounds, inside the
            field's declared range, e.g. `{"learning_rate": (1e-4, 1e-2)}`.
        population_size: The number of members (>= 2).
        interval: Iterations between exploit steps.
        key: A JAX PRNG key.
        fraction: The share of members replaced at each exploit step, in
            (0, 0.5].
        resample_probability: The chance that a copied hyperparameter is drawn
            afresh instead of perturbed, in [0, 1].
        fitness: `(member_state, returns) -> scalar`, with `returns` the
            member's mean episode return per iteration of the interval (NaN where
            none ended); higher is better, NaN ranks last. Default:
            `recent_mean_return`.
        curriculum: A curriculum run for every member (see
            `learn_with_curriculum`).
        num_intervals: Stop after this many intervals in all (default: the
            whole run); `resume=` continues.
        resume: A `PBTResult` (or a file `PBTResult.save` wrote) of this same
            configuration to continue from.
        callback: Callbacks run for every member (each member has its own
            state). A `LoggingCallback` writes one row per member per
            iteration (`seed` is the member's index) with its lineage:
            `pbt_source` (the member whose weights it copied last, its own
            index if none), `pbt_copied_at` (the iteration of that copy, -1 if
            none) and `pbt_<field>` (its explored hyperparameters).
        checkpointer: A `lerax.checkpoint.Checkpointer` saving the whole
            population at the end of every interval whose iteration count is a
            multiple of its `every_iterations` (a multiple of `interval`), and
            after the last; calling `pbt` again with the same directory
            continues from the newest checkpoint, bit for bit.
        mesh: A one-axis `jax.sharding.Mesh`: the members are split over its
            devices (`population_size` must divide by its size); the exploit
            step's copies cross devices inside the program.

    Returns:
        A `PBTResult`: `best()`, `schedule()`, `copies()`, `state`.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If a field is not explorable, bounds are invalid or outside
            the field's range, sizes do not fit (the mesh, the checkpoint
            period), or `resume` or the checkpoint directory is from another
            configuration.
        NonFiniteError: If a NaN or Inf stopped a member (with
            `on_nonfinite="error"`).
    """
    if not isinstance(algorithm, AbstractOnPolicyAlgorithm):
        raise TypeError(
            "pbt: algorithm must be a lerax on-policy algorithm (PPO, A2C), got "
            f"{type(algorithm).__name__}."
        )
    search = _search(algorithm, hyperparameters)
    check_size("pbt", "population_size", population_size)
    check_size("pbt", "interval", interval)
    if population_size < 2:
        raise ValueError(f"pbt: population_size must be >= 2, got {population_size}.")
    if not 0.0 < float(fraction) <= 0.5:
        raise ValueError(f"pbt: fraction must be in (0, 0.5], got {fraction}.")
    if not 0.0 <= float(resample_probability) <= 1.0:
        raise ValueError(
            f"pbt: resample_probability must be in [0, 1], got {resample_probability}."
        )
    if curriculum is not None and not isinstance(curriculum, AbstractCurriculum):
        raise TypeError(
            "pbt: curriculum must be a lerax.scale.AbstractCurriculum, got "
            f"{type(curriculum).__name__}."
        )
    check_key("pbt", key)
    check_mesh("pbt", mesh, population_size, what="population_size")
    if checkpointer is not None:
        if not isinstance(checkpointer, Checkpointer):
            raise TypeError(
                "pbt: checkpointer must be a lerax.checkpoint.Checkpointer, got "
                f"{type(checkpointer).__name__}."
            )
        if checkpointer.every_iterations % interval:
            raise ValueError(
                f"pbt: the checkpointer's every_iterations="
                f"{checkpointer.every_iterations} is not a multiple of "
                f"interval={interval} (a population is saved between intervals)."
            )
    run_callback: AbstractCallback = EpisodeStatisticsCallback()
    if callback is not None:
        # The episode statistics first (the fitness reads them), then the
        # user's callbacks, which see each member's lineage in the log.
        run_callback = ListCallback(
            [
                run_callback,
                _LineageCallback(
                    algorithm.consolidate_callbacks(callback), search.names
                ),
            ]
        )
    member_keys = jax.random.split(key, population_size + 1)
    policies, learn_keys, num_iterations, run_callback = prepare(
        "pbt",
        algorithm,
        env,
        policy,
        total_timesteps,
        member_keys[1:],
        run_callback,
        None,
    )
    if num_iterations % interval:
        raise ValueError(
            f"pbt: the run has {num_iterations} iterations (total_timesteps // "
            f"(num_envs * num_steps)), not a multiple of interval={interval}; "
            "change one of them."
        )
    total_intervals = num_iterations // interval
    stop = total_intervals if num_intervals is None else int(num_intervals)
    if not 1 <= stop <= total_intervals:
        raise ValueError(
            f"pbt: num_intervals must be in [1, {total_intervals}], got "
            f"{num_intervals}."
        )
    config = _Config(
        search=search,
        population_size=int(population_size),
        interval=int(interval),
        num_intervals=total_intervals,
        num_replaced=max(1, int(fraction * population_size)),
        resample_probability=float(resample_probability),
        fitness=recent_mean_return if fitness is None else fitness,
        mesh=mesh,
    )
    with runs_split(mesh is not None):
        state = _init(
            algorithm,
            env,
            policies,
            learn_keys,
            member_keys[0],
            config,
            run_callback,
            curriculum,
        )
    restored = False
    if checkpointer is not None and checkpointer.prepare(
        _identity(algorithm, config, state)
    ):
        if resume is not None:
            raise ValueError(
                f"pbt: give resume= or a checkpointer whose directory holds "
                f"checkpoints ({checkpointer.directory}), not both."
            )
        state = _restore(checkpointer, state, config.interval)
        restored = True
    if resume is not None:
        if isinstance(resume, PBTResult):
            loaded = resume.pbt_state
            if not eqx.tree_equal(
                jax.tree.structure(eqx.filter(loaded, eqx.is_array)),
                jax.tree.structure(eqx.filter(state, eqx.is_array)),
            ) or jax.tree.map(jnp.shape, eqx.filter(loaded, eqx.is_array)) != (
                jax.tree.map(jnp.shape, eqx.filter(state, eqx.is_array))
            ):
                raise ValueError(
                    "pbt: resume comes from a run of another configuration "
                    "(population, fields, sizes or budget differ)."
                )
            state = loaded
        elif isinstance(resume, str | Path):
            state = _load(resume, state)
        else:
            raise TypeError(
                "pbt: resume must be a PBTResult or a path PBTResult.save wrote, got "
                f"{type(resume).__name__}."
            )
    concrete = not isinstance(state.interval_count, jax.core.Tracer)
    if concrete and resume is not None and stop <= int(state.interval_count):
        raise ValueError(
            f"pbt: the run is already at interval {int(state.interval_count)}; "
            f"num_intervals={stop} asks for nothing new."
        )
    if not (restored and concrete and stop <= int(state.interval_count)):
        with runs_split(mesh is not None):
            state = _advance(
                algorithm,
                state,
                jnp.int32(stop),
                config,
                run_callback,
                curriculum,
                checkpointer,
            )
    if checkpointer is not None and concrete:
        jax.block_until_ready(state)
        checkpointer.wait()
    if concrete:
        state = dataclasses.replace(
            state, members=raise_if_faulted(algorithm, state.members)
        )
    return PBTResult(pbt_state=state, interval=int(interval), names=search.names)
