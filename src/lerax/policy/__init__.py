"""Policies: maps from observations to actions (and, for actor-critics, values).

Every policy is an Equinox module taking one unbatched observation; batch with
`jax.vmap`. Policies save and load with `serialize` / `deserialize`, which check
a structural fingerprint before loading any weights.
"""

from ._base import (
    AbstractActorCriticPolicy as AbstractActorCriticPolicy,
    AbstractPolicy as AbstractPolicy,
    AbstractPolicyState as AbstractPolicyState,
    NullPolicyState as NullPolicyState,
)
from ._cnn import CNNActorCriticPolicy as CNNActorCriticPolicy
from ._guard import check_env_and_policy as check_env_and_policy
from ._mlp import MLPActorCriticPolicy as MLPActorCriticPolicy
from ._normalization import RunningMeanStd as RunningMeanStd
from ._recurrent import (
    AbstractRecurrentActorCriticPolicy as AbstractRecurrentActorCriticPolicy,
    GRUActorCriticPolicy as GRUActorCriticPolicy,
    LSTMActorCriticPolicy as LSTMActorCriticPolicy,
    RecurrentPolicyState as RecurrentPolicyState,
)

__all__ = [
    "AbstractActorCriticPolicy",
    "AbstractPolicy",
    "AbstractPolicyState",
    "AbstractRecurrentActorCriticPolicy",
    "CNNActorCriticPolicy",
    "GRUActorCriticPolicy",
    "LSTMActorCriticPolicy",
    "MLPActorCriticPolicy",
    "NullPolicyState",
    "RecurrentPolicyState",
    "RunningMeanStd",
    "check_env_and_policy",
]
