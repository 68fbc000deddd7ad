"""How long work reports how far it has got: one callback type for every layer."""

from collections.abc import Callable

Progress = Callable[[float, str], None]  # fraction done (0..1), what is happening
