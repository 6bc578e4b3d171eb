"""Hyperparameter sweeps: a vmap over configurations of a vmap over seeds."""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Key

from lerax._checks import check_size
from lerax.algorithm import (
    AbstractOnPolicyAlgorithm,
    OnPolicyState,
    raise_if_faulted,
    run_on_policy,
)
from lerax.callback import EpisodeStatisticsCallback
from lerax.env import AbstractEnvLike

from ._seeds import PolicySource, prepare


class SweepResult(eqx.Module):
    """What `sweep` returns: one row per configuration, one column per seed.

    Attributes:
        settings: Each swept field's value per configuration, shape
            `(num_configs,)`.
        final_returns: Each run's final return, shape `(num_configs, num_seeds)`:
            the mean undiscounted episode return over the last `window`
            iterations (NaN if no episode ended in them).
        state: The final states, stacked with leading axes
            `(num_configs, num_seeds)`; `select(result.state.policy, (c, s))`
            is one trained policy.
    """

    settings: dict[str, Float[Array, " num_configs"]]
    final_returns: Float[Array, "num_configs num_seeds"]
    state: OnPolicyState

    @property
    def mean(self) -> Float[Array, " num_configs"]:
        """The mean final return over seeds, per configuration."""
        return jnp.nanmean(self.final_returns, axis=1)

    @property
    def std(self) -> Float[Array, " num_configs"]:
        """The standard deviation of the final return over seeds, per configuration."""
        return jnp.nanstd(self.final_returns, axis=1)

    def best(self) -> int:
        """The configuration with the highest mean final return.

        Returns:
            Its index (a row of `rows()`).
        """
        return int(np.nanargmax(np.asarray(self.mean)))

    def rows(self) -> list[dict[str, float]]:
        """The table as one dict per configuration.

        Returns:
            Rows with the swept fields, `mean_return` and `std_return`.
        """
        settings = {name: np.asarray(v) for name, v in self.settings.items()}
        mean, std = np.asarray(self.mean), np.asarray(self.std)
        return [
            {
                # Shortest decimal of the stored float32 (1e-3, not 0.0010000000475).
                **{
                    name: float(np.format_float_positional(v[i], unique=True))
                    for name, v in settings.items()
                },
                "mean_return": float(mean[i]),
                "std_return": float(std[i]),
            }
            for i in range(mean.shape[0])
        ]

    def table(self) -> str:
        """The table in Markdown, one row per configuration.

        Returns:
            The table.
        """
        rows = self.rows()
        names = list(rows[0]) if rows else []
        lines = [
            "| " + " | ".join(names) + " |",
            "|" + "---:|" * len(names),
        ]
        lines += ["| " + " | ".join(f"{r[n]:.6g}" for n in names) + " |" for r in rows]
        return "\n".join(lines)


def sweepable_fields(algorithm: AbstractOnPolicyAlgorithm) -> list[str]:
    """The fields of `algorithm` that `sweep` can vary: its array leaves.

    Static fields (sizes, flags, the network's shape) are structural: changing
    them changes the compiled program, so they cannot be vmapped.

    Args:
        algorithm: An algorithm instance.

    Returns:
        The field names.
    """
    return [
        f.name
        for f in dataclasses.fields(algorithm)
        if not f.metadata.get("static", False)
        and eqx.is_array(getattr(algorithm, f.name))
    ]


def _columns(
    algorithm: AbstractOnPolicyAlgorithm,
    values: Mapping[str, ArrayLike],
    grid: bool,
) -> dict[str, np.ndarray]:
    owner = type(algorithm).__name__
    if not isinstance(values, Mapping) or not values:
        raise ValueError("sweep: values must be a non-empty dict field -> values.")
    sweepable = sweepable_fields(algorithm)
    static = {f.name for f in dataclasses.fields(algorithm) if f.metadata.get("static")}
    columns = {}
    for name, column in values.items():
        if name in static:
            raise ValueError(
                f"sweep: {owner}.{name} is structural (a static field: it sets "
                "shapes or the program's branches), so it cannot be swept in one "
                f"program; run one sweep per value. Sweepable: {', '.join(sweepable)}."
            )
        if name not in sweepable:
            raise ValueError(
                f"sweep: {owner} has no sweepable field {name!r} (a schedule or "
                f"other non-array value cannot be swept). Sweepable: "
                f"{', '.join(sweepable)}."
            )
        dtype = getattr(algorithm, name).dtype
        column = np.asarray(column, dtype=dtype)
        if column.ndim != 1 or column.shape[0] < 1:
            raise ValueError(
                f"sweep: values[{name!r}] must be a 1-d list of at least one value, "
                f"got shape {column.shape}."
            )
        columns[name] = column
    names = list(columns)
    if grid:
        product = list(itertools.product(*(columns[n] for n in names)))
        return {n: np.asarray([p[i] for p in product]) for i, n in enumerate(names)}
    lengths = {n: c.shape[0] for n, c in columns.items()}
    if len(set(lengths.values())) != 1:
        shown = ", ".join(f"{n}: {k}" for n, k in lengths.items())
        raise ValueError(
            f"sweep: with grid=False every field needs as many values (one per "
            f"configuration); got {shown}."
        )
    return columns


def _with_values(algorithm, columns: Mapping[str, Array]):
    names = list(columns)
    return eqx.tree_at(
        lambda a: [getattr(a, n) for n in names],
        algorithm,
        [jnp.asarray(columns[n]) for n in names],
    )


def _check_values(algorithm, columns) -> None:
    # Range checks of every configuration at once: `check_number` accepts arrays.
    candidate = _with_values(algorithm, columns)
    for cls in type(candidate).__mro__:
        check = cls.__dict__.get("__check_init__")
        if check is not None:
            check(candidate)


@eqx.filter_jit
def _sweep(algorithm, columns, env, policies, num_iterations, keys, callback, mesh):
    def one_config(config):
        algo = _with_values(algorithm, config)

        def one_seed(policy, key):
            return run_on_policy(
                algo, env, policy, num_iterations, key=key, callback=callback, mesh=mesh
            )

        return eqx.filter_vmap(one_seed)(policies, keys)

    return jax.vmap(one_config)(columns)


def sweep(
    algorithm: AbstractOnPolicyAlgorithm,
    env: AbstractEnvLike,
    policy: PolicySource,
    total_timesteps: int,
    values: Mapping[str, ArrayLike],
    keys: Key[Array, " num_seeds"],
    *,
    grid: bool = True,
    window: int | None = None,
    mesh: jax.sharding.Mesh | None = None,
) -> SweepResult:
    """Train every configuration of a hyperparameter sweep on every seed, at once.

    One compiled program: a `jax.vmap` over configurations of a `jax.vmap` over
    seeds of `learn`. Configuration `c` on seed `s` is the run
    `train_seeds(algorithm_c, ...)` would make for seed `s`, where
    `algorithm_c` is `algorithm` with the swept fields set to row `c`; every
    configuration starts from the same per-seed initial policies.

    Only array leaves can be swept (`sweepable_fields(algorithm)`: for PPO the
    learning rate when it is a number, gamma, gae_lambda, clip_coefficient, the
    loss coefficients and max_grad_norm). Static fields (num_envs, num_steps,
    num_epochs, num_batches, flags, the policy's layer sizes) set shapes or
    branches of the program and need one sweep per value.

    Args:
        algorithm: The base configuration.
        env: The environment.
        policy: A function `key -> policy`, one policy, or one policy per seed
            (see `train_seeds`).
        total_timesteps: The budget per run.
        values: Field name -> values, e.g. `{"learning_rate": [1e-3, 3e-4]}`.
        keys: One PRNG key per seed, shape `(num_seeds,)`.
        grid: True: every combination of the values (a grid search). False:
            the i-th values of every field form configuration i, so all lists
            have one length (draw them at random for a random search).
        window: How many final iterations the final return averages over
            (default: the last tenth of the run, at least 1).
        mesh: A one-axis `jax.sharding.Mesh` over which each run's
            environments are split (see `learn`).

    Returns:
        A `SweepResult`: `table()` prints mean and standard deviation of the final
        return per configuration.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If a field is unknown or structural, values are not 1-d,
            lengths differ with `grid=False`, a value is out of range (the
            algorithm's own check names it), or a size, key or the mesh is
            invalid.
        NonFiniteError: If a NaN or Inf stopped a run (with
            `on_nonfinite="error"`).
    """
    if not isinstance(algorithm, AbstractOnPolicyAlgorithm):
        raise TypeError(
            "sweep: algorithm must be a lerax on-policy algorithm (PPO, A2C), got "
            f"{type(algorithm).__name__}."
        )
    columns = _columns(algorithm, values, grid)
    _check_values(algorithm, columns)
    policies, learn_keys, num_iterations, callback = prepare(
        "sweep",
        algorithm,
        env,
        policy,
        total_timesteps,
        keys,
        EpisodeStatisticsCallback(),
        mesh,
    )
    if window is None:
        window = max(1, num_iterations // 10)
    check_size("sweep", "window", window)
    window = min(window, num_iterations)
    state = _sweep(
        algorithm,
        {n: jnp.asarray(c) for n, c in columns.items()},
        env,
        policies,
        num_iterations,
        learn_keys,
        callback,
        mesh,
    )
    state = raise_if_faulted(algorithm, state)
    record = np.asarray(state.callback_state.mean_return)[..., -window:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        final = np.nanmean(record, axis=-1)
    return SweepResult(
        settings={n: jnp.asarray(c) for n, c in columns.items()},
        final_returns=jnp.asarray(final),
        state=state,
    )
