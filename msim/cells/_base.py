"""The abstract cell-model interface.

A cell model is an `equinox.Module` whose physical parameters are array fields (scalars, or
per-cell fields that broadcast against the grid), so new values are traced, differentiable and
never recompile. Structural facts (state names, which state is the voltage, which states are
gates) are class-level constants.
"""

import abc
from typing import ClassVar

import equinox as eqx

from .._types import Array, Float


class AbstractCellModel(eqx.Module):
    """Interface of every cell-scale ODE model: ``dy/dt = rhs(t, y, i_stim)``.

    Conventions:

    - ``y`` is channel-first, shape ``(n_states, *grid)``; ``rhs`` is elementwise over the grid
      axes, so the same code serves one cell (``grid == ()``) or a million.
    - ``i_stim`` is the applied stimulus, in the model's own units of dV/dt (positive
      depolarises), with shape ``grid`` (or broadcastable to it).
    - Models with gating variables list them in ``gate_indices`` and implement
      [`gate_rates`][msim.cells.AbstractCellModel.gate_rates], which returns the steady states
      and time constants that a Rush-Larsen step uses: for a gate ``g``,
      ``dg/dt = (g_inf - g) / tau``.

    Subclasses declare:

    - ``state_names``: the names of the states, in order.
    - ``voltage_index``: which state is the membrane voltage (for a non-electrical model, the
      primary observable that diffuses and that activation times are measured on).
    - ``activation_threshold``: default threshold for activation times, in the voltage's units.
    - ``gate_indices``: the indices of the gating variables (may be empty).
    """

    state_names: eqx.AbstractClassVar[tuple[str, ...]]
    voltage_index: eqx.AbstractClassVar[int]
    activation_threshold: eqx.AbstractClassVar[float]
    gate_indices: ClassVar[tuple[int, ...]] = ()

    @abc.abstractmethod
    def rhs(self, t: Float[Array, ""], y: Float[Array, "n ..."], i_stim: Array) -> Array:
        """Time derivative of the state, elementwise; same shape as ``y``."""

    @abc.abstractmethod
    def initial_state(self) -> Float[Array, " n"]:
        """The resting state of one cell, shape ``(n_states,)``."""

    def gate_rates(self, t: Float[Array, ""], y: Array) -> tuple[Array, Array]:
        """Steady states and time constants of the gates, each ``(n_gates, *grid)``.

        Only models with a non-empty ``gate_indices`` implement this.
        """
        raise TypeError(
            f"{type(self).__name__} declares no gating variables, so it has no gate rates; "
            "use the ForwardEuler or Heun reaction scheme, or declare `gate_indices`."
        )

    @property
    def n_states(self) -> int:
        return len(self.state_names)

    def state_index(self, name: str) -> int:
        """Index of the state called ``name``, with a clear error for an unknown name."""
        try:
            return self.state_names.index(name)
        except ValueError:
            raise ValueError(
                f"{type(self).__name__} has no state {name!r}; its states are {self.state_names}."
            ) from None
