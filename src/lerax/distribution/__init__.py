"""Action distributions: thin, jit- and vmap-friendly wrappers over distrax.

Each distribution describes one unbatched action and offers `sample`, `log_prob`,
`entropy`, `mode` and `sample_and_log_prob`; batch with `jax.vmap`.
"""

from ._base import (
    AbstractDistraxDistribution as AbstractDistraxDistribution,
    AbstractDistribution as AbstractDistribution,
    masked_logit as masked_logit,
)
from ._bernoulli import Bernoulli as Bernoulli
from ._categorical import (
    Categorical as Categorical,
    MultiCategorical as MultiCategorical,
)
from ._gaussian import (
    DiagGaussian as DiagGaussian,
    SquashedDiagGaussian as SquashedDiagGaussian,
)

__all__ = [
    "AbstractDistraxDistribution",
    "AbstractDistribution",
    "Bernoulli",
    "Categorical",
    "DiagGaussian",
    "MultiCategorical",
    "SquashedDiagGaussian",
    "masked_logit",
]
