"""Problem descriptions: a cell model, a grid, what diffuses how, and the stimulus."""

import abc
from collections.abc import Mapping, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._convert import concrete
from .._types import Array
from ..cells import AbstractCellModel
from ..stimulus import Stimulus
from ..tissue import AbstractConductivity, Grid, as_conductivity


def _check_cell(cell: AbstractCellModel, grid: Grid) -> None:
    """The grid is an `msim.Grid` and the cell a model whose fields are scalars or fields of
    the grid's shape."""
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be an msim.Grid, got {type(grid).__name__}.")
    if not isinstance(cell, AbstractCellModel):
        raise TypeError(f"cell must be a cell model (msim.cells.*), got {type(cell).__name__}.")
    for path, leaf in jax.tree_util.tree_leaves_with_path(cell):
        shape = jnp.shape(leaf)
        if shape not in ((), grid.shape):
            name = jax.tree_util.keystr(path).lstrip(".")
            raise ValueError(
                f"cell parameter {name} has shape {shape}; a parameter is a scalar or one value "
                f"per cell, shape {grid.shape}. To run several parameter sets, jax.vmap over "
                "simulate instead."
            )
        value = concrete(leaf) if eqx.is_inexact_array(leaf) else None
        if value is not None and not np.isfinite(value).all():
            name = jax.tree_util.keystr(path).lstrip(".")
            what = (
                f"it is {value}"
                if value.ndim == 0
                else (f"{int((~np.isfinite(value)).sum())} of its values are NaN or infinite")
            )
            raise ValueError(
                f"cell parameter {name} is not finite ({what}). Check the value given, or the "
                "step that computed it."
            )


def checked_conductivity(value, grid: Grid) -> AbstractConductivity:
    """``value`` as a conductivity (`as_conductivity`), checked against ``grid``."""
    conductivity = as_conductivity(value)
    conductivity.check(grid)
    return conductivity


def _as_stimuli(stimulus) -> tuple[Stimulus, ...]:
    if stimulus is None:
        return ()
    if isinstance(stimulus, Stimulus):
        return (stimulus,)
    stimuli = tuple(stimulus)
    for s in stimuli:
        if not isinstance(s, Stimulus):
            raise TypeError(f"stimulus must be Stimulus objects, got {type(s).__name__}.")
    return stimuli


def _stimulus_masks(stimuli: tuple[Stimulus, ...], grid: Grid, dtype) -> Array:
    tissue = grid.mask_array()
    masks = []
    for s in stimuli:
        region = s.region.mask(grid) & tissue
        if not region.any():
            raise ValueError(
                f"Stimulus region {s.region} contains no tissue cell of the grid (shape "
                f"{grid.shape}, spacing {grid.spacing}); regions use physical coordinates, "
                "cell centres at (i + 1/2) * spacing."
            )
        masks.append(region)
    if not masks:
        return jnp.zeros((0, *grid.shape), dtype)
    return jnp.asarray(np.stack(masks), dtype)


def _initial_state(cell: AbstractCellModel, grid: Grid, initial_state) -> Array:
    rest = cell.initial_state()
    n = cell.n_states
    if initial_state is None:
        return jnp.broadcast_to(rest.reshape(n, *([1] * grid.ndim)), (n, *grid.shape))
    y0 = jnp.asarray(initial_state, rest.dtype)
    if y0.shape == (n,):
        return jnp.broadcast_to(y0.reshape(n, *([1] * grid.ndim)), (n, *grid.shape))
    if y0.shape != (n, *grid.shape):
        raise ValueError(
            f"initial_state has shape {y0.shape}; {type(cell).__name__} on this grid needs "
            f"({n}, *{grid.shape}) (states first, names {cell.state_names}) or ({n},)."
        )
    value = concrete(y0)
    if value is not None and not np.isfinite(value).all():
        raise ValueError("initial_state contains NaN or infinite values.")
    return y0


class AbstractProblem(eqx.Module):
    """A reaction-diffusion problem on a grid: ``dy/dt = rhs(y) + div(D grad y_k)`` for the
    diffused states ``k``, with ``rhs`` the cell model (plus stimulus) at every grid cell."""

    cell: eqx.AbstractVar[AbstractCellModel]
    grid: eqx.AbstractVar[Grid]
    stimuli: eqx.AbstractVar[tuple[Stimulus, ...]]
    stimulus_masks: eqx.AbstractVar[Array]
    initial_state: eqx.AbstractVar[Array]

    @abc.abstractmethod
    def diffused(self) -> tuple[tuple[int, AbstractConductivity], ...]:
        """The diffused states: ``(state index, conductivity)`` pairs."""

    def diffusion_scheme(self, diffusion):
        """The diffusion scheme that advances this problem, from the one given to `simulate`
        (``diffusion``, an `AbstractDiffusion`): itself by default; a problem whose diffusion
        needs more than its ``diffused()`` states say (`Bidomain`: an elliptic solve per step)
        wraps it or refuses it with a TypeError."""
        return diffusion

    def invalid_diffusivity(self) -> Array:
        """Whether a diffusivity is negative, NaN or infinite (run time: values may be traced)."""
        flags = [c.invalid() for _, c in self.diffused()]
        return jnp.stack(flags).any() if flags else jnp.zeros((), bool)

    def invalid_stimulus(self, dt: float) -> Array:
        """Whether a stimulus's values are unusable with time step ``dt`` (see
        `Stimulus.invalid`; run time: values may be traced)."""
        flags = [s.invalid(dt) for s in self.stimuli]
        return jnp.stack(flags).any() if flags else jnp.zeros((), bool)

    def stimulus_current(self, t: Array) -> Array:
        """The applied stimulus at time ``t``, shape ``grid`` (model units of dV/dt)."""
        dtype = self.initial_state.dtype
        current = jnp.zeros(self.grid.shape, dtype)
        for s, mask in zip(self.stimuli, self.stimulus_masks, strict=True):
            current = current + (s.amplitude * s.envelope(t)).astype(dtype) * mask
        return current


class Monodomain(AbstractProblem):
    r"""The monodomain equation with a cell model at every grid cell.

    $$ \frac{\partial V}{\partial t} = \nabla\cdot(D \nabla V) + f_V(V, s) + I_{stim},\qquad
       \frac{\partial s}{\partial t} = f_s(V, s), $$

    where ``V`` is the cell model's voltage state and ``D = sigma / (chi C_m)`` the diffusivity
    (length^2/time: mm^2/ms for physiological models). No flux crosses the domain edge (unless
    the grid is periodic) or the boundary of the grid's mask.

    Args:
        cell: the cell model; its parameters are scalars or per-cell fields of the grid's shape.
        grid: the `msim.Grid`.
        diffusivity: a scalar, a per-cell field, or a conductivity such as
            `msim.tissue.Fibres` (anisotropic).
        stimulus: a `msim.Stimulus`, a sequence of them (e.g. from `msim.stimulus.s1s2`), or
            None.
        initial_state: ``(n_states, *grid)`` or ``(n_states,)``; default the cell's rest state.
    """

    cell: AbstractCellModel
    grid: Grid
    conductivity: AbstractConductivity
    stimuli: tuple[Stimulus, ...]
    stimulus_masks: Array
    initial_state: Array

    def __init__(self, cell, grid, diffusivity, stimulus=None, initial_state=None):
        _check_cell(cell, grid)
        self.cell = cell
        self.grid = grid
        self.conductivity = checked_conductivity(diffusivity, grid)
        self.stimuli = _as_stimuli(stimulus)
        self.initial_state = _initial_state(cell, grid, initial_state)
        self.stimulus_masks = _stimulus_masks(self.stimuli, grid, self.initial_state.dtype)

    def diffused(self) -> tuple[tuple[int, AbstractConductivity], ...]:
        return ((self.cell.voltage_index, self.conductivity),)


class ReactionDiffusion(AbstractProblem):
    r"""Multi-species reaction-diffusion: any subset of the cell model's states diffuse, each
    with its own conductivity.

    $$ \frac{\partial y_k}{\partial t} = \nabla\cdot(D_k \nabla y_k) + f_k(y)
       + \delta_{kV} I_{stim}. $$

    Args:
        cell: the (reaction) model; see `Monodomain`.
        grid: the `msim.Grid`.
        diffusion: mapping from state name to a scalar, a per-cell field or a conductivity.
        stimulus, initial_state: as for `Monodomain` (the stimulus enters the model's
            ``voltage_index`` state through its ``rhs``).
    """

    cell: AbstractCellModel
    grid: Grid
    conductivities: tuple[AbstractConductivity, ...]
    diffused_indices: tuple[int, ...] = eqx.field(static=True)
    stimuli: tuple[Stimulus, ...]
    stimulus_masks: Array
    initial_state: Array

    def __init__(
        self,
        cell,
        grid,
        diffusion: Mapping[str, object],
        stimulus: Stimulus | Sequence[Stimulus] | None = None,
        initial_state=None,
    ):
        _check_cell(cell, grid)
        self.cell = cell
        self.grid = grid
        if not isinstance(diffusion, Mapping):
            raise TypeError(
                "diffusion must be a dict from state name to diffusivity, e.g. {'u': 1.0}, got "
                f"{type(diffusion).__name__}."
            )
        indices, conductivities = [], []
        for name, value in diffusion.items():
            indices.append(cell.state_index(name))
            conductivities.append(checked_conductivity(value, grid))
        self.diffused_indices = tuple(indices)
        self.conductivities = tuple(conductivities)
        self.stimuli = _as_stimuli(stimulus)
        self.initial_state = _initial_state(cell, grid, initial_state)
        self.stimulus_masks = _stimulus_masks(self.stimuli, grid, self.initial_state.dtype)

    def diffused(self) -> tuple[tuple[int, AbstractConductivity], ...]:
        return tuple(zip(self.diffused_indices, self.conductivities, strict=True))
