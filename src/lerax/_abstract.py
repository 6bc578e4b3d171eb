"""A base for abstract marker classes: abstract classes with nothing to fill in.

A state base such as `AbstractEnvState` has no abstract members (a subclass adds
its own fields), so Equinox would let `AbstractEnvState()` be built. Deriving
from `AbstractMarker` refuses an instance of any class whose name starts with
`Abstract`, so the abstract/final pattern holds for them too.
"""

import equinox as eqx


class AbstractMarker(eqx.Module):
    """Refuses instances of classes named `Abstract*`; subclasses instantiate.

    Raises:
        TypeError: When a class named `Abstract...` is instantiated.
    """

    def __check_init__(self):
        name = type(self).__name__
        if name.startswith("Abstract"):
            raise TypeError(
                f"Can't instantiate abstract class {name}: subclass it with the "
                "state's fields."
            )
