"""Unknown keyword arguments answered with the lerax name a user meant.

Users arrive with Stable-Baselines3, CleanRL and skrl habits (`n_steps`,
`num_minibatches`, `learning_epochs`); Python's "unexpected keyword argument"
does not say what lerax calls the thing. `suggest_keywords` wraps a constructor
so that an unknown keyword raises a `TypeError` naming the lerax argument: from
a table of other libraries' names, else the closest spelling.
"""

import difflib
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# Other libraries' argument names -> lerax's (PPO/A2C and the policies).
OTHER_LIBRARIES: dict[str, str] = {
    # Stable-Baselines3
    "n_steps": "num_steps",
    "n_epochs": "num_epochs",
    "n_envs": "num_envs",
    "batch_size": "num_batches (a count: num_envs * num_steps // batch_size)",
    "clip_range": "clip_coefficient",
    "clip_range_vf": "clip_value_coefficient",
    "ent_coef": "entropy_loss_coefficient",
    "vf_coef": "value_loss_coefficient",
    "normalize_advantage": "normalize_advantages",
    "seed": "key",
    "policy_kwargs": "the policy's constructor arguments",
    "net_arch": "actor_hidden_sizes / critic_hidden_sizes",
    "activation_fn": "activation",
    # CleanRL
    "num_minibatches": "num_batches",
    "update_epochs": "num_epochs",
    "update_epochs_per_iteration": "num_epochs",
    "clip_coef": "clip_coefficient",
    "norm_adv": "normalize_advantages",
    "clip_vloss": "clip_value_loss",
    "anneal_lr": "anneal_learning_rate",
    "total_timesteps": "learn(total_timesteps=...)",
    # skrl
    "rollouts": "num_steps",
    "learning_epochs": "num_epochs",
    "mini_batches": "num_batches",
    "discount_factor": "gamma",
    "lambda": "gae_lambda",
    "lambda_": "gae_lambda",
    "ratio_clip": "clip_coefficient",
    "value_clip": "clip_value_coefficient",
    "entropy_loss_scale": "entropy_loss_coefficient",
    "value_loss_scale": "value_loss_coefficient",
    "grad_norm_clip": "max_grad_norm",
    "kl_threshold": "target_kl",
    "learning_rate_scheduler": "learning_rate (an optax schedule)",
    # A custom policy loss (rejax/PureJaxRL forks replace the loss function).
    "policy_loss": "objective (an AbstractPolicyObjective)",
    "loss_fn": "objective (an AbstractPolicyObjective)",
}


def suggestion(name: str, accepted: Mapping[str, Any] | list[str]) -> str | None:
    """The lerax argument a user probably meant by `name`, if any.

    Args:
        name: The unknown keyword.
        accepted: The keywords the callable accepts.

    Returns:
        The suggested keyword (or a short phrase), or `None` when nothing fits.
    """
    accepted = list(accepted)
    mapped = OTHER_LIBRARIES.get(name)
    if mapped is not None:
        # A phrase names its argument first ("num_batches (a count: ...)");
        # suggest it only where the callable takes that argument. Phrases about
        # something else (`learn(...)`, "the policy's ...") always apply.
        head = mapped.split(" ", 1)[0].split("(", 1)[0]
        if head in accepted or mapped.startswith(("learn(", "the ")):
            return mapped
    close = difflib.get_close_matches(name, accepted, n=1, cutoff=0.75)
    return close[0] if close else None


def suggest_keywords(init: F) -> F:
    """Wrap a constructor so unknown keywords raise a `TypeError` with a suggestion.

    The wrapped function keeps its signature (`inspect.signature` follows
    `__wrapped__`), so documentation and editors see the real arguments.

    Args:
        init: An `__init__` taking keyword arguments.

    Returns:
        The wrapper.
    """
    signature = inspect.signature(init)
    takes_any = any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()
    )
    accepted = [
        n
        for n, p in signature.parameters.items()
        if n != "self"
        and p.kind
        in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]

    @functools.wraps(init)
    def wrapper(self, *args: Any, **kwargs: Any) -> None:
        if not takes_any:
            unknown = [k for k in kwargs if k not in accepted]
            if unknown:
                owner = init.__qualname__.split(".")[0]
                parts = []
                for k in unknown:
                    hint = suggestion(k, accepted)
                    parts.append(f"{k!r} (did you mean {hint}?)" if hint else repr(k))
                raise TypeError(
                    f"{owner}() got unexpected keyword argument(s) "
                    f"{', '.join(parts)}. Its arguments: {', '.join(accepted)}."
                )
        init(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
