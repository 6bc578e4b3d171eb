"""`make("suite:id")`: one entry point for every adapted environment suite.

Each suite is a row of `_SUITES`: the lerax extra that installs it, a function
listing its registered ids and a function making an adapter. Both functions
import the suite (and its adapter module) only when called, so
`import lerax.compatibility` stays light and a suite that is not installed
costs nothing until it is asked for. Adding an adapter is adding a row.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Callable, Sequence
from typing import Any

from lerax._optional import import_extra
from lerax.env import AbstractEnvLike, AbstractMultiAgentEnv

from ._craftax import CRAFTAX_IDS


@dataclasses.dataclass(frozen=True)
class _Suite:
    """One row of the registry.

    Attributes:
        extra: The lerax extra that installs the suite (`None`: a dependency).
        module: The suite's top-level module, imported to check it is there.
        ids: Lists the suite's registered ids (imports the suite).
        factory: Makes the adapter for an id with keyword arguments.
    """

    extra: str | None
    module: str
    ids: Callable[[], Sequence[str]]
    factory: Callable[..., AbstractEnvLike | AbstractMultiAgentEnv]


def _adapter(module: str, name: str) -> Any:
    return getattr(importlib.import_module(f"lerax.compatibility.{module}"), name)


def _gymnax_ids() -> Sequence[str]:
    return importlib.import_module("gymnax").registered_envs


def _gymnasium_ids() -> Sequence[str]:
    return list(importlib.import_module("gymnasium").registry)


def _brax_ids() -> Sequence[str]:
    # Brax keeps its registry in a module-level dict with no public accessor.
    return list(importlib.import_module("brax.envs")._envs)


def _jumanji_ids() -> Sequence[str]:
    return list(importlib.import_module("jumanji").registered_environments())


def _jaxmarl_ids() -> Sequence[str]:
    return list(importlib.import_module("jaxmarl").registered_envs)


_SUITES: dict[str, _Suite] = {
    "gymnax": _Suite(
        extra=None,
        module="gymnax",
        ids=_gymnax_ids,
        factory=lambda name, **kw: _adapter("gymnax", "GymnaxToLeraxEnv").from_name(
            name, **kw
        ),
    ),
    "gymnasium": _Suite(
        extra="gymnasium",
        module="gymnasium",
        ids=_gymnasium_ids,
        factory=lambda name, **kw: _adapter("gymnasium", "GymnasiumToLeraxEnv")(
            name, **kw
        ),
    ),
    "brax": _Suite(
        extra="brax",
        module="brax",
        ids=_brax_ids,
        factory=lambda name, **kw: _adapter("brax", "BraxToLeraxEnv")(name, **kw),
    ),
    "jumanji": _Suite(
        extra="jumanji",
        module="jumanji",
        ids=_jumanji_ids,
        factory=lambda name, **kw: _adapter("jumanji", "JumanjiToLeraxEnv").from_name(
            name, **kw
        ),
    ),
    "craftax": _Suite(
        extra="craftax",
        module="craftax",
        ids=lambda: CRAFTAX_IDS,
        factory=lambda name, **kw: _adapter("craftax", "CraftaxToLeraxEnv")(name, **kw),
    ),
    # A multi-agent suite: `make` returns an `AbstractMultiAgentEnv`.
    "jaxmarl": _Suite(
        extra="jaxmarl",
        module="jaxmarl",
        ids=_jaxmarl_ids,
        factory=lambda name, **kw: _adapter("jaxmarl", "JaxMARLToLeraxEnv").from_name(
            name, **kw
        ),
    ),
}


def _close(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=5, cutoff=0.5)
    return f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""


def suites() -> tuple[str, ...]:
    """The suites `make` knows, installed or not.

    Returns:
        The suite names, sorted.
    """
    return tuple(sorted(_SUITES))


def registered_ids(suite: str) -> tuple[str, ...]:
    """The environment ids a suite registers (imports the suite).

    Args:
        suite: A suite name from `suites()`, such as `"jumanji"`.

    Returns:
        The ids, sorted, without the `suite:` prefix.

    Raises:
        ValueError: If the suite is unknown (the message lists close names).
        ImportError: If the suite is not installed; the message names the
            `pip install 'lerax[...]'` command.
    """
    row = _suite(suite)
    return tuple(sorted(row.ids()))


def _suite(suite: str) -> _Suite:
    if suite not in _SUITES:
        raise ValueError(
            f"make: unknown suite {suite!r}; {_close(suite, list(_SUITES))}"
            f"known suites: {', '.join(sorted(_SUITES))}."
        )
    row = _SUITES[suite]
    if row.extra is None:
        importlib.import_module(row.module)
    else:
        import_extra(row.module, row.extra, owner=f"make('{suite}:...')")
    return row


def make(env_id: str, **kwargs: Any) -> AbstractEnvLike | AbstractMultiAgentEnv:
    """Make a registered environment of any adapted suite as a lerax environment.

    `env_id` is `"suite:id"`: `"gymnax:CartPole-v1"`,
    `"gymnasium:CartPole-v1"`, `"brax:hopper"`, `"jumanji:Snake-v1"`,
    `"craftax:Craftax-Classic-Symbolic-v1"`, and the multi-agent
    `"jaxmarl:MPE_simple_spread_v3"` (an `AbstractMultiAgentEnv`: wrap it in
    `lerax.env.AgentBatchEnv` for IPPO/MAPPO). The keyword arguments go to the
    suite's adapter: gymnax params overrides (`GymnaxToLeraxEnv.from_name`),
    `num_envs` and env kwargs (`GymnasiumToLeraxEnv`), `episode_length`,
    `backend` and env kwargs (`BraxToLeraxEnv`), env constructor kwargs
    (`JumanjiToLeraxEnv.from_name`), params overrides (`CraftaxToLeraxEnv`),
    `end_as` and `jaxmarl.make` kwargs (`JaxMARLToLeraxEnv.from_name`).
    The adapters stay importable directly; `make` only saves remembering them.

    Args:
        env_id: `"suite:id"`.
        **kwargs: Passed to the suite's adapter.

    Returns:
        The adapted environment (a multi-agent one for `jaxmarl:`).

    Raises:
        ValueError: If `env_id` has no `suite:` prefix, the suite is unknown or
            the id is not registered (the message lists close suites or ids).
        ImportError: If the suite is not installed; the message names the
            `pip install 'lerax[...]'` command that installs it.
    """
    if not isinstance(env_id, str) or ":" not in env_id:
        raise ValueError(
            f"make: expected 'suite:id' such as 'gymnax:CartPole-v1', got "
            f"{env_id!r}; known suites: {', '.join(sorted(_SUITES))}."
        )
    suite, name = env_id.split(":", 1)
    row = _suite(suite)
    ids = list(row.ids())
    if name not in ids:
        raise ValueError(
            f"make: {suite} has no environment {name!r}; {_close(name, ids)}"
            f"see lerax.compatibility.registered_ids({suite!r}) for all "
            f"{len(ids)} ids."
        )
    return row.factory(name, **kwargs)
