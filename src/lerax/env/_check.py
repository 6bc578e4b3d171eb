"""`check_env`: find what is wrong with a user's environment, in plain words.

The checker runs a short random rollout (with automatic resets, as the
algorithms do) eagerly, under `jax.jit` and under `jax.vmap`, and compares what
the environment returns with what its spaces promise. It collects every problem
it finds and raises them together, so one run tells the user everything to fix.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Key

from lerax._checks import plain
from lerax.space import AbstractSpace, Discrete, describe_space

from ._base import AbstractEnvLike
from ._guard import require_env

_NUM_STEPS = 8  # random steps of the eager rollout
_NUM_VMAP = 3  # keys of the vmapped reset and step


class EnvCheckError(ValueError):
    """Raised by `check_env` with every problem it found in an environment.

    Attributes:
        problems: One plain-words sentence per problem, in the order found.
    """

    def __init__(self, env_name: str, problems: list[str]):
        """Build the error from the list of problems.

        Args:
            env_name: The environment's name, for the message.
            problems: One sentence per problem.
        """
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        count = len(self.problems)
        super().__init__(
            f"check_env: environment {env_name!r} has {count} "
            f"problem{'s' if count != 1 else ''}:\n{lines}"
        )


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def _same(a: Any, b: Any, *, tolerant: bool = False) -> bool:
    """Whether two pytrees have the same structure and equal leaves.

    Exactly equal (dtypes too), or with `tolerant` floats within a tolerance
    and dtypes not compared (jit may reorder float math).
    """
    leaves_a, def_a = jax.tree.flatten(a)
    leaves_b, def_b = jax.tree.flatten(b)
    if def_a != def_b:
        return False
    for x, y in zip(leaves_a, leaves_b, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape or (not tolerant and x.dtype != y.dtype):
            return False
        floats = x.dtype.kind in "fc"
        if tolerant and floats:
            equal = np.allclose(x, y, rtol=1e-5, atol=1e-6, equal_nan=True)
        else:
            equal = np.array_equal(x, y, equal_nan=floats)
        if not equal:
            return False
    return True


def _snapshot(tree: Any) -> Any:
    """Copy every array leaf to NumPy, so later mutation can be detected."""
    return jax.tree.map(
        lambda x: np.array(x, copy=True) if eqx.is_array_like(x) else x, tree
    )


def _shape_dtype(tree: Any) -> Any:
    return jax.tree.map(lambda x: (tuple(jnp.shape(x)), jnp.result_type(x).name), tree)


def _check_space_value(
    space: AbstractSpace, value: Any, what: str, problems: list[str]
) -> bool:
    """Record problems if `value` is not an element of `space`.

    Returns:
        Whether the structure and shapes matched (so further checks make sense).
    """
    try:
        space.validate(value, name=what)
    except ValueError as err:
        problems.append(f"{err} Fix the environment or its space.")
        return False
    expected = jax.eval_shape(lambda: space.sample(key=jax.random.key(0)))
    for want, got in zip(
        jax.tree.leaves(expected), jax.tree.leaves(value), strict=True
    ):
        got_dtype = jnp.result_type(got)
        if got_dtype != want.dtype:
            problems.append(
                f"{what} has dtype {got_dtype.name}, but {space!r} holds "
                f"{jnp.dtype(want.dtype).name}; cast it (for example with "
                f"`.astype(jnp.{jnp.dtype(want.dtype).name})`)."
            )
            return True
    if not bool(space.contains(value)):
        problems.append(
            f"{what} is {plain(value)}, which is outside {describe_space(space)}; "
            "widen the "
            "space's bounds or fix the value."
        )
    return True


def _check_critic_observation(
    env: AbstractEnvLike,
    space: AbstractSpace | None,
    state: Any,
    key: Key[Array, ""],
    what: str,
    problems: list[str],
) -> None:
    """Record problems if the critic observation of `state` does not fit `space`."""
    try:
        value = env.critic_observation(state, key=key)
    except Exception as err:  # the user's code: report whatever it raised
        problems.append(f"critic_observation raised {_first_line(err)}")
        return
    if space is None:
        if value is not None:
            problems.append(
                "critic_observation returns a value but critic_observation_space "
                "is None; declare the space (a property) or return None."
            )
        return
    if value is None:
        problems.append(
            "critic_observation returns None but critic_observation_space is "
            f"{describe_space(space)}; a wrapper that keeps a state of its own "
            "must forward critic_observation to its inner environment."
        )
        return
    _check_space_value(space, value, f"the {what} critic_observation", problems)


def _check_scalar(value: Any, what: str, kind: str, problems: list[str]) -> None:
    shape = tuple(jnp.shape(value))
    dtype = jnp.result_type(value)
    if kind == "float":
        ok = jnp.issubdtype(dtype, jnp.floating)
        want = "a scalar float (shape (), a floating dtype)"
        fix = "jnp.asarray(r, jnp.float32)"
    else:
        ok = dtype == jnp.bool_
        want = "a scalar bool (shape (), dtype bool)"
        fix = "jnp.asarray(done, bool)"
    if shape != () or not ok:
        problems.append(
            f"{what} has shape {shape} and dtype {dtype.name}, but must be {want}; "
            f"return `{fix}`."
        )


def _check_mask(
    space: AbstractSpace, mask: Any, what: str, problems: list[str]
) -> bool:
    """Record problems if `mask` is not a mask `space` takes. Returns validity."""
    bad_dtype = [
        jnp.result_type(leaf).name
        for leaf in jax.tree.leaves(mask)
        if jnp.result_type(leaf) != jnp.bool_
    ]
    if bad_dtype:
        problems.append(
            f"{what} has dtype {bad_dtype[0]}, but masks must be bool; return a "
            "boolean array (True = allowed)."
        )
        return False
    try:
        jax.eval_shape(lambda m: space.sample(key=jax.random.key(0), mask=m), mask)
    except (ValueError, TypeError) as err:
        shapes = [tuple(jnp.shape(leaf)) for leaf in jax.tree.leaves(mask)]
        shown = shapes[0] if len(shapes) == 1 else shapes
        problems.append(
            f"{what} has shape {shown}, which {space!r} does not take "
            f"({_first_line(err)})."
        )
        return False
    if isinstance(space, Discrete) and not bool(jnp.any(jnp.asarray(mask))):
        problems.append(
            f"{what} allows no action at all; at least one action must be "
            "allowed in every state."
        )
        return False
    return True


def check_env(env: AbstractEnvLike, *, key: Key[Array, ""] | None = None) -> None:
    """Check an environment against its spaces and lerax's rules; explain problems.

    Runs a short random rollout (resetting at each episode's end) and checks:

    - `observation_space` and `action_space` are lerax spaces;
    - observations from `reset` and `step` have the space's structure, shapes and
      dtypes and lie inside it;
    - the reward is a scalar float and `terminated`/`truncated` are scalar bools;
    - the state keeps the same structure, shapes and dtypes from step to step (a
      `lax.scan` carry cannot change);
    - `reset` and `step` are pure and deterministic: the same key gives the same
      result, and a call leaves its inputs and the environment unchanged;
    - `critic_observation_space` (when not `None`) is a lerax space and the
      critic observations of reset and stepped states lie inside it; without
      one, `critic_observation` returns `None`;
    - `action_mask` (when it returns a mask) is boolean, shaped the way the action
      space takes masks, and allows at least one action;
    - `reset` and `step` trace under `jax.jit` (and agree with the eager results)
      and under `jax.vmap`.

    Args:
        env: The environment (or wrapped environment) to check.
        key: A JAX PRNG key for the random rollout; `jax.random.key(0)` if omitted.

    Raises:
        TypeError: If `env` is not a lerax environment (for example a raw
            Gymnasium or gymnax one: the message names the adapter to use).
        EnvCheckError: If any problem is found; it is a `ValueError` whose message
            lists every problem, and whose `problems` attribute holds them.
    """
    require_env("check_env", env)
    key = jax.random.key(0) if key is None else key
    name = str(getattr(env, "name", type(env).__name__))
    problems: list[str] = []

    spaces_ok = True
    for which in ("observation_space", "action_space"):
        space = getattr(env, which)
        if not isinstance(space, AbstractSpace):
            problems.append(
                f"env.{which} is a {type(space).__name__}, not a lerax space; "
                "use one from lerax.space (Box, Discrete, ...)."
            )
            spaces_ok = False
    if not spaces_ok:
        raise EnvCheckError(name, problems)
    obs_space, act_space = env.observation_space, env.action_space
    critic_space = env.critic_observation_space
    if critic_space is not None and not isinstance(critic_space, AbstractSpace):
        raise EnvCheckError(
            name,
            [
                f"env.critic_observation_space is a {type(critic_space).__name__}, "
                "not a lerax space; use one from lerax.space (or None for no "
                "critic observation)."
            ],
        )

    reset_key, rollout_key = jax.random.split(key)
    try:
        state, obs, info = env.reset(key=reset_key)
    except Exception as err:  # the user's code: report whatever it raised
        raise EnvCheckError(name, [f"reset raised {_first_line(err)}"]) from err
    reset_state, reset_obs = state, obs
    _check_space_value(obs_space, obs, "reset's observation", problems)
    _check_critic_observation(
        env, critic_space, state, reset_key, "reset state's", problems
    )
    if not isinstance(info, dict):
        problems.append(f"reset's info is a {type(info).__name__}, not a dict.")
    state_signature = _shape_dtype(state)
    state_structure = jax.tree.structure(state)

    # Eager rollout; each kind of problem is reported once.
    seen: set[str] = set()

    def report(tag: str, found: list[str]) -> None:
        if found and tag not in seen:
            seen.add(tag)
            problems.extend(found)

    first_step = None
    for t in range(_NUM_STEPS):
        rollout_key, mask_key, act_key, step_key, next_reset_key = jax.random.split(
            rollout_key, 5
        )
        found: list[str] = []
        try:
            mask = env.action_mask(state, key=mask_key)
        except Exception as err:
            report("mask-raise", [f"action_mask raised {_first_line(err)}"])
            mask = None
        if mask is not None:
            found = []
            if not _check_mask(act_space, mask, "action_mask's mask", found):
                mask = None
            report("mask", found)
        action = act_space.sample(key=act_key, mask=mask)
        before = _snapshot((state, action))
        env_before = _snapshot(env)
        try:
            out = env.step(state, action, key=step_key)
        except Exception as err:
            problems.append(f"step raised {_first_line(err)}")
            break
        if not (isinstance(out, tuple) and len(out) == 6):
            problems.append(
                "step must return (next_state, observation, reward, terminated, "
                "truncated, info)."
            )
            break
        next_state, obs, reward, terminated, truncated, info = out
        if first_step is None:
            first_step = (state, action, step_key, out)
        if not _same(before, (state, action)) or not _same(env_before, env):
            report(
                "mutate",
                [
                    "step changed its inputs or the environment in place; "
                    "environments must be pure functions that return new values."
                ],
            )
        found = []
        _check_space_value(obs_space, obs, "step's observation", found)
        report("obs", found)
        found = []
        _check_critic_observation(
            env, critic_space, next_state, step_key, "stepped state's", found
        )
        report("critic", found)
        found = []
        _check_scalar(reward, "step's reward", "float", found)
        report("reward", found)
        for value, what in ((terminated, "terminated"), (truncated, "truncated")):
            found = []
            _check_scalar(value, f"step's {what}", "bool", found)
            report(what, found)
        if not isinstance(info, dict):
            report("info", [f"step's info is a {type(info).__name__}, not a dict."])
        if (
            jax.tree.structure(next_state) != state_structure
            or _shape_dtype(next_state) != state_signature
        ):
            report(
                "carry",
                [
                    "the state returned by step differs in structure, shape or "
                    f"dtype from the one reset returns (reset: {state_signature}, "
                    f"step {t + 1}: {_shape_dtype(next_state)}); keep every field's "
                    "shape and dtype fixed (lax.scan carries it)."
                ],
            )
            break
        if bool(jnp.asarray(terminated)) or bool(jnp.asarray(truncated)):
            state, _, _ = env.reset(key=next_reset_key)
        else:
            state = next_state

    # Determinism: the same key gives the same result, twice.
    try:
        again = env.reset(key=reset_key)
    except Exception:  # a reset that raises was reported above
        again = (reset_state, reset_obs)
    if not _same(again[:2], (reset_state, reset_obs)):
        problems.append(
            "reset is not deterministic: two calls with the same key returned "
            "different results; draw all randomness from `key` (not NumPy's or "
            "Python's random number generators, nor a clock)."
        )
    if first_step is not None:
        state0, action0, step_key0, out0 = first_step
        again = env.step(state0, action0, key=step_key0)
        if not _same(again[:5], out0[:5]):
            problems.append(
                "step is not deterministic: two calls with the same state, action "
                "and key returned different results; draw all randomness from "
                "`key` (not NumPy's or Python's random number generators, nor a "
                "clock)."
            )

    # Compiled: jit and vmap, as the algorithms run it.
    try:
        jitted = eqx.filter_jit(lambda e, k: e.reset(key=k))(env, reset_key)
        if not _same(jitted[:2], (reset_state, reset_obs), tolerant=True):
            problems.append(
                "reset under jax.jit returns different values from the eager call; "
                "avoid Python-side state and side effects."
            )
    except Exception as err:
        problems.append(
            f"reset fails under jax.jit: {_first_line(err)}. Use jnp/lax "
            "operations instead of Python control flow on array values."
        )
    if first_step is not None:
        state0, action0, step_key0, out0 = first_step
        try:
            jitted = eqx.filter_jit(lambda e, s, a, k: e.step(s, a, key=k)[:5])(
                env, state0, action0, step_key0
            )
            if not _same(jitted, out0[:5], tolerant=True):
                problems.append(
                    "step under jax.jit returns different values from the eager "
                    "call; avoid Python-side state and side effects."
                )
        except Exception as err:
            problems.append(
                f"step fails under jax.jit: {_first_line(err)}. Use jnp/lax "
                "operations (jnp.where, lax.cond) instead of Python control flow "
                "on array values."
            )
    keys = jax.random.split(reset_key, _NUM_VMAP)
    try:

        def reset_and_step(k: Key[Array, ""]) -> Any:
            k1, k2, k3, k4 = jax.random.split(k, 4)
            s, _, _ = env.reset(key=k1)
            mask = env.action_mask(s, key=k2)
            a = act_space.sample(key=k3, mask=mask if "mask" not in seen else None)
            return env.step(s, a, key=k4)[:5]

        jax.vmap(reset_and_step)(keys)
    except Exception as err:
        problems.append(
            f"reset/step fail under jax.vmap: {_first_line(err)}. Write the "
            "environment for one unbatched state; lerax adds the batch dimension."
        )

    if problems:
        raise EnvCheckError(name, problems)
