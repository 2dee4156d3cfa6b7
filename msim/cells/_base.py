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
from .._units import DIMENSIONLESS, Units


class AbstractCellModel(eqx.Module):
    """Interface of every cell-scale ODE model: ``dy/dt = rhs(t, y, i_stim)``.

    Conventions:

    - ``y`` is channel-first, shape ``(n_states, *grid)``; ``rhs`` is elementwise over the grid
      axes, so the same code serves one cell (``grid == ()``) or a million.
    - ``i_stim`` is the applied stimulus, in the model's own units of dV/dt (positive
      depolarises), with shape ``grid`` (or broadcastable to it).
    - Models with gating variables derive from `AbstractGatedCellModel` instead, which adds
      the gates' indices and rates for Rush-Larsen steps.

    Subclasses declare:

    - ``state_names``: the names of the states, in order.
    - ``voltage_index``: which state is the membrane voltage (for a non-electrical model, the
      primary observable that diffuses and that activation times are measured on).
    - ``activation_threshold``: default threshold for activation times, in the voltage's units.
    - ``units`` (optional): the `msim.Units` of time, voltage and length the model is written in,
      for labels and result files; default ``"model units"`` throughout (dimensionless).
    """

    state_names: eqx.AbstractClassVar[tuple[str, ...]]
    voltage_index: eqx.AbstractClassVar[int]
    activation_threshold: eqx.AbstractClassVar[float]
    units: ClassVar[Units] = DIMENSIONLESS

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A model that declares gates but is not a gated model would silently lose its
        # Rush-Larsen steps (the schemes look at the class, not at the attribute).
        declares = [n for n in ("gate_indices", "gate_rates") if n in cls.__dict__]
        gated = globals().get("AbstractGatedCellModel")  # None while it is being defined
        if declares and gated is not None and not issubclass(cls, gated):
            raise TypeError(
                f"{cls.__name__} declares {' and '.join(declares)} but derives from "
                "AbstractCellModel; derive from msim.cells.AbstractGatedCellModel instead, so "
                "that Rush-Larsen schemes step its gates exactly."
            )

    @abc.abstractmethod
    def rhs(self, t: Float[Array, ""], y: Float[Array, "n ..."], i_stim: Array) -> Array:
        """Time derivative of the state, elementwise; same shape as ``y``."""

    @abc.abstractmethod
    def initial_state(self) -> Float[Array, " n"]:
        """The resting state of one cell, shape ``(n_states,)``."""

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


class AbstractGatedCellModel(AbstractCellModel):
    """A cell model with gating variables, which Rush-Larsen schemes step exactly.

    For each gate ``g`` (state index in ``gate_indices``) the model's ``rhs`` is
    ``dg/dt = (g_inf - g) / tau`` with ``g_inf`` and ``tau`` given by
    [`gate_rates`][msim.cells.AbstractGatedCellModel.gate_rates] at the same state.

    Subclasses declare, besides what `AbstractCellModel` asks for:

    - ``gate_indices``: the indices of the gating variables (at least one).
    - ``gate_rates(t, y)``: their steady states and time constants.
    """

    gate_indices: eqx.AbstractClassVar[tuple[int, ...]]

    @abc.abstractmethod
    def gate_rates(self, t: Float[Array, ""], y: Array) -> tuple[Array, Array]:
        """Steady states (dimensionless) and time constants (the model's time unit) of the
        gates, each ``(n_gates, *grid)``, in the order of ``gate_indices``."""

    def rhs_and_gate_rates(
        self, t: Float[Array, ""], y: Array, i_stim: Array
    ) -> tuple[Array, tuple[Array, Array]]:
        """``rhs`` and ``gate_rates`` at the same state, as a Rush-Larsen step needs them.

        By default the two calls: XLA merges the expressions they share when it compiles the
        step (checked for the hand-written models in ``tests/test_engine.py``). A model whose
        two evaluations do not merge (an imported equation set) overrides it to evaluate once.
        """
        return self.rhs(t, y, i_stim), self.gate_rates(t, y)


def gate_indices(cell: AbstractCellModel) -> tuple[int, ...]:
    """The indices of ``cell``'s gating variables: ``()`` for a model without gates."""
    return cell.gate_indices if isinstance(cell, AbstractGatedCellModel) else ()
