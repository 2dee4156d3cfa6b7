r"""The bidomain model on structured grids: the transmembrane voltage with an extracellular
potential found by an elliptic solve at every step, and shocks through extracellular
electrodes.

In cardiac units (mm, ms, mV), with conductivities given as diffusivities
``D = sigma / (chi C_m)`` (mm^2/ms, as `Monodomain` takes them) and currents per unit
volume scaled the same way (``I / (chi C_m)``: uA/uF = mV/ms),

$$ \frac{\partial V_m}{\partial t} = \nabla\cdot(D_i \nabla (V_m + \phi_e)) + f_V(V_m, s)
   + I_{stim}, $$
$$ 0 = \nabla\cdot((D_i + D_e) \nabla \phi_e) + \nabla\cdot(D_i \nabla V_m) + I_e, $$

with no flux of either current through the domain edge or the mask boundary. The elliptic
operator is the sum of the two flux-form stencils ``L_i + L_e`` (the same stencils the
monodomain applies), so its null space is the constants: a reference fixes them (`Bidomain`).
"""

import dataclasses
from typing import ClassVar

import equinox as eqx
import jax
import jax.lax as lax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sparse
from scipy.sparse.csgraph import connected_components

from .._convert import concrete
from .._types import Array, ScalarLike
from ..cells import AbstractCellModel
from ..stimulus import AbstractRegion, Stimulus
from ..tissue import AbstractConductivity, AbstractStencil, Grid, open_faces
from ._diffusion import AbstractDiffusion, AbstractPreparedDiffusion, ExplicitDiffusion, _SubSteps
from ._linear import SolveStats, axis_conductances, solve, spectral_preconditioner
from ._problem import (
    AbstractProblem,
    _as_stimuli,
    _check_cell,
    _initial_state,
    _stimulus_masks,
    checked_conductivity,
)
from ._reaction import ForwardEuler

# ---------------------------------------------------------------------------------------------
# Extracellular stimulation


class ExtracellularStimulus(eqx.Module):
    r"""A current injected into the extracellular space: a shock through electrodes.

    While a pulse is on, the current ``strength`` (per unit tissue volume, scaled as the
    bidomain's conductivities: ``I_e / (chi C_m)``, uA/uF = mV/ms) enters the extracellular
    space at every tissue cell of ``anode``; the same total current leaves it through
    ``cathode``, spread evenly over the cathode's tissue cells (so the cathode's density is
    ``strength * n_anode / n_cathode``). Without a cathode the current returns through the
    ground of a `Bidomain` whose ``reference`` is a cell index; with ``reference="mean"`` a
    cathode is required (the net current must vanish: otherwise the elliptic equation has no
    solution).

    Sign convention: current entering the extracellular space raises ``phi_e``; an anode
    hyperpolarises the membrane under it and a cathode depolarises it (a negative
    ``strength`` swaps the roles). Timing as `Stimulus` (pulse ``k`` on for
    ``start + k period <= t < start + k period + duration``, ms), evaluated at the midpoint
    of each diffusion sub-step.

    Good values: shocks of 1-10 ms; in 2-D sheets with Niederer's conductivities, a point
    cathode of strength ~1e3-1e4 mV/ms over a few cells excites the tissue around it and
    shows the virtual electrodes of unequal anisotropy.

    Args:
        anode: the region (`msim.regions.box`, ``ball``, ``from_mask``) where the current enters.
        cathode: the region where it leaves, or None (returns through the ground).
        start: the first pulse's start (ms).
        duration: each pulse's length (ms, at least the time step).
        strength: the injected current per unit volume at the anode (mV/ms; differentiable).
        period: the interval between pulses of a train (ms), or None for one pulse.
        count: the number of pulses.
    """

    anode: AbstractRegion
    cathode: AbstractRegion | None
    pulse: Stimulus  # the timing and strength (its region is the anode)

    def __init__(
        self,
        anode: AbstractRegion,
        cathode: AbstractRegion | None = None,
        start: ScalarLike = 0.0,
        duration: ScalarLike = 1.0,
        strength: ScalarLike = 1.0,
        period: ScalarLike | None = None,
        count: int = 1,
    ):
        if cathode is not None and not isinstance(cathode, AbstractRegion):
            raise TypeError(
                "ExtracellularStimulus cathode must be a region (msim.regions.box, ball, "
                f"from_mask) or None, got {type(cathode).__name__}."
            )
        self.pulse = Stimulus(anode, start, duration, strength, period, count)
        self.anode = anode
        self.cathode = cathode

    @property
    def strength(self) -> Array:
        """The anode's current density (mV/ms)."""
        return self.pulse.amplitude

    def weights(self, grid: Grid) -> np.ndarray:
        """The current's distribution per unit ``strength``: 1 on the anode's tissue cells,
        ``-n_anode / n_cathode`` on the cathode's, 0 elsewhere (sums to zero with a
        cathode). Raises ValueError for an electrode without tissue or overlapping ones."""
        tissue = grid.mask_array()
        anode = self.anode.mask(grid) & tissue
        if not anode.any():
            raise ValueError(
                f"ExtracellularStimulus anode {self.anode} contains no tissue cell of the grid "
                f"(shape {grid.shape}, spacing {grid.spacing}); regions use physical "
                "coordinates, cell centres at (i + 1/2) * spacing."
            )
        w = anode.astype(np.float64)
        if self.cathode is not None:
            cathode = self.cathode.mask(grid) & tissue
            if not cathode.any():
                raise ValueError(
                    f"ExtracellularStimulus cathode {self.cathode} contains no tissue cell of "
                    "the grid."
                )
            if (anode & cathode).any():
                raise ValueError(
                    "ExtracellularStimulus anode and cathode share cells; give disjoint regions."
                )
            w = w - cathode * (anode.sum() / cathode.sum())
        return w


# ---------------------------------------------------------------------------------------------
# The elliptic equation


def _reference(reference, grid: Grid) -> str | tuple[int, ...]:
    if isinstance(reference, str):
        if reference != "mean":
            raise ValueError(
                f"reference must be 'mean' or a grid index of a ground cell, got {reference!r}."
            )
        return reference
    if reference is None:
        raise ValueError(
            "The bidomain's extracellular potential is defined only up to a constant (the "
            "elliptic operator with no-flux walls is singular): give reference='mean' "
            "(zero mean over the tissue) or the grid index of a ground cell, e.g. (0, 0)."
        )
    try:
        index = tuple(int(i) for i in reference)
    except TypeError:
        raise TypeError(
            f"reference must be 'mean' or a grid index such as (0, 0), got {reference!r}."
        ) from None
    return grid.check_index(index, "reference")


def _check_connected(grid: Grid) -> None:
    """One reference fixes one constant: the tissue must be one connected piece."""
    tissue = grid.mask_array()
    n = grid.size
    ids = np.arange(n).reshape(grid.shape)
    rows, cols = [], []
    for axis, is_open in enumerate(open_faces(grid)):
        here = is_open > 0
        rows.append(ids[here])
        cols.append(np.roll(ids, -1, axis=axis)[here])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = sparse.coo_matrix((np.ones(r.size), (r, c)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    pieces = np.unique(labels.reshape(grid.shape)[tissue]).size
    if pieces > 1:
        raise ValueError(
            f"The tissue (the grid's mask) has {pieces} disconnected pieces; the bidomain's "
            "extracellular potential would be undetermined by a constant on each. Connect "
            "them, or simulate each piece on its own grid (a bath, which would connect them, "
            "is not implemented yet)."
        )


class _Elliptic(eqx.Module):
    """``A phi = b`` of the extracellular potential, as a linear operator on grid fields:
    ``A = -(L_i + L_e)`` on the tissue, the identity off it, with the constant fixed by a
    rank-one term (``reference='mean'``: ``+ s * mean(phi)`` on the tissue, which makes the
    system non-singular and, since ``A``'s columns sum to zero, gives ``mean(phi) =
    sum(b) / (n s)``, zero for a balanced ``b``) or by a ground cell (its row and column
    replaced by the identity: ``phi = 0`` there, symmetric)."""

    intracellular: AbstractStencil
    extracellular: AbstractStencil
    tissue: Array  # 1.0 on tissue cells, 0.0 off
    ground: Array | None  # one-hot at the ground cell; None: the mean reference
    shift: Array  # the rank-one term's eigenvalue (1/time), about the mean diagonal
    n: float = eqx.field(static=True)
    periodic: tuple[bool, ...] = eqx.field(static=True)

    @property
    def symmetric(self) -> bool:
        return self.intracellular.symmetric and self.extracellular.symmetric

    def _base(self, x: Array) -> Array:
        y = -(self.intracellular.apply(x) + self.extracellular.apply(x))
        return self.tissue * y + (1.0 - self.tissue) * x

    def __call__(self, x: Array) -> Array:
        if self.ground is None:
            return self._base(x) + (self.shift * jnp.sum(self.tissue * x) / self.n) * self.tissue
        keep = 1.0 - self.ground
        return keep * self._base(keep * x) + self.ground * x

    def diagonal(self) -> Array:
        d = -(self.intracellular.diagonal() + self.extracellular.diagonal())
        d = self.tissue * d + (1.0 - self.tissue)
        if self.ground is None:
            return d + (self.shift / self.n) * self.tissue
        return (1.0 - self.ground) * d + self.ground

    def rhs(self, v: Array, current: Array) -> Array:
        """``b = L_i v + I_e`` on the tissue (0 off it and at the ground)."""
        b = self.tissue * (self.intracellular.apply(v) + current)
        return b if self.ground is None else (1.0 - self.ground) * b


def _elliptic(
    intracellular: AbstractStencil,
    extracellular: AbstractStencil,
    grid: Grid,
    reference: str | tuple[int, ...],
    dtype,
) -> _Elliptic:
    tissue_np = grid.mask_array()
    tissue = jnp.asarray(tissue_np, dtype)
    n = float(tissue_np.sum())
    ground = None
    if reference != "mean":
        ground = jnp.zeros(grid.shape, dtype).at[reference].set(1.0)
    d = -(intracellular.diagonal() + extracellular.diagonal())
    shift = lax.stop_gradient(jnp.sum(tissue * d) / n)  # the solution does not depend on it
    return _Elliptic(intracellular, extracellular, tissue, ground, shift, n, grid.periodic)


def _default_rtol(dtype) -> float:
    return 1e-10 if jnp.dtype(dtype) == jnp.float64 else 1e-5


def _potential(
    elliptic: _Elliptic, v: Array, current: Array, x0: Array, rtol: float, max_steps: int
) -> tuple[Array, SolveStats]:
    """One elliptic solve: ``phi_e`` from ``V_m`` and ``I_e``, starting from ``x0``."""
    b = elliptic.rhs(v, current)
    diagonal = elliptic.diagonal()
    # Converged when every cell's residual is below rtol times the scale of the terms that
    # make it: the right-hand side, and the operator applied to a potential of the voltage's
    # size, at least one voltage unit. Without the second a near-uniform voltage (b ~ 0) would
    # ask for a residual of rounding, and with b = 0 the adjoint solve (lineax reuses this
    # tolerance for it) could never converge.
    size = jnp.maximum(jnp.max(jnp.abs(elliptic.tissue * v)), 1.0)
    scale = jnp.max(jnp.abs(b)) + jnp.max(diagonal) * size
    atol = lax.stop_gradient(rtol * scale)
    if any(elliptic.periodic):
        precondition = 1.0 / diagonal  # Jacobi
    else:
        # The inverse of the nearest constant-coefficient operator by a cosine transform:
        # exact for uniform conductivities on an unmasked grid, and its iterations do not grow
        # with the number of cells per axis (Jacobi's grow linearly with it).
        conductances = [
            a + b
            for a, b in zip(
                axis_conductances(elliptic.intracellular),
                axis_conductances(elliptic.extracellular),
                strict=True,
            )
        ]
        zero = jnp.zeros((), v.dtype)
        precondition = spectral_preconditioner(v.shape, conductances, zero, elliptic.shift)
    phi, stats = solve(
        elliptic,
        b,
        x0,
        precondition,
        symmetric=elliptic.symmetric,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
    )
    # Off the tissue and at the ground phi_e is 0 by definition; the solve meets that to its
    # tolerance, and it is set exactly.
    keep = elliptic.tissue if elliptic.ground is None else elliptic.tissue * (1.0 - elliptic.ground)
    return phi * keep, stats


def _check_balance(current, grid: Grid, reference, what: str) -> None:
    """With the mean reference the injected current must sum to zero over the tissue."""
    if reference != "mean":
        return
    value = concrete(current)
    if value is None:
        return
    tissue = grid.mask_array()
    per_frame = value.reshape(-1, *grid.shape) * tissue
    net = np.abs(per_frame.sum(axis=tuple(range(1, grid.ndim + 1))))
    total = np.abs(per_frame).sum(axis=tuple(range(1, grid.ndim + 1)))
    if np.any(net > 1e-9 * np.maximum(total, np.finfo(float).tiny)):
        raise ValueError(
            f"{what} injects a net current (sum over the tissue {float(net.max()):.3g}) but "
            "reference='mean' has no ground to return it: the elliptic equation with no-flux "
            "walls then has no solution (singular system). Balance it with a cathode, or "
            "ground a cell: reference=(i, j, ...)."
        )


def _recover(
    elliptic: _Elliptic, vs: Array, currents: Array, rtol: float, max_steps: int
) -> tuple[Array, SolveStats]:
    """``phi_e`` for every frame of ``vs`` (``(n_frames, *grid)``), each solve warm-started
    from the previous frame's."""

    def one(carry, vc):
        phi, stats = carry
        phi, st = _potential(elliptic, vc[0], vc[1], phi, rtol, max_steps)
        return (phi, stats.add(st, jnp.zeros((), jnp.int32))), phi

    zero = jnp.zeros(vs.shape[1:], vs.dtype)
    (_, stats), phis = lax.scan(one, (zero, SolveStats.zero(vs.dtype)), (vs, currents))
    return phis, stats


_NOT_CONVERGED = (
    "msim: the extracellular potential's elliptic solve did not converge within max_steps "
    "iterations. Raise max_steps or loosen rtol."
)


@eqx.filter_jit
def _recover_checked(elliptic, vs, currents, rtol, max_steps):
    phis, stats = _recover(elliptic, vs, currents, rtol, max_steps)
    return eqx.error_if(phis, stats.failed, _NOT_CONVERGED), stats


def recover_potential(
    vm,
    grid: Grid,
    intracellular: AbstractConductivity,
    extracellular: AbstractConductivity,
    reference,
    current,
    rtol: float | None,
    max_steps: int,
) -> Array:
    """The shared body of `Bidomain.extracellular_potential` and
    `msim.observe.extracellular_potential`: ``(frames, *grid)`` or ``(*grid)`` in, the same
    shape out."""
    vm = jnp.asarray(vm)
    if not jnp.issubdtype(vm.dtype, jnp.floating):
        raise TypeError(f"vm must be a floating array, got dtype {vm.dtype}.")
    single = vm.shape == grid.shape
    if not single and vm.shape[1:] != grid.shape:
        raise ValueError(
            f"vm has shape {vm.shape}; give the transmembrane voltage on the grid, {grid.shape}, "
            f"or frames of it, (n_frames, *{grid.shape}) (e.g. Solution.snapshot('V'))."
        )
    vs = vm[None] if single else vm
    if current is None:
        currents = jnp.zeros_like(vs)
    else:
        current = jnp.asarray(current, vs.dtype)
        if current.shape == grid.shape:
            currents = jnp.broadcast_to(current, vs.shape)
        elif current.shape == vs.shape:
            currents = current
        else:
            raise ValueError(
                f"current has shape {current.shape}; give one field {grid.shape} or one per "
                f"frame {vs.shape}."
            )
        _check_balance(currents, grid, reference, "current")
    int_stencil = intracellular.stencil(grid)
    ext_stencil = extracellular.stencil(grid)
    elliptic = _elliptic(int_stencil, ext_stencil, grid, reference, vs.dtype)
    rtol = _default_rtol(vs.dtype) if rtol is None else float(rtol)
    phis, _ = _recover_checked(elliptic, vs, currents, rtol, int(max_steps))
    return phis[0] if single else phis


def _check_solver(rtol, max_steps) -> None:
    if rtol is not None and not 0 < float(rtol) < 1:
        raise ValueError(f"rtol must be in (0, 1), got {rtol}.")
    if int(max_steps) != max_steps or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps}.")


# ---------------------------------------------------------------------------------------------
# The problem


class Bidomain(AbstractProblem):
    r"""The bidomain equations with a cell model at every grid cell.

    $$ \frac{\partial V_m}{\partial t} = \nabla\cdot(D_i \nabla (V_m + \phi_e)) + f_V(V_m, s)
       + I_{stim}, \qquad \frac{\partial s}{\partial t} = f_s(V_m, s), $$
    $$ 0 = \nabla\cdot((D_i + D_e) \nabla \phi_e) + \nabla\cdot(D_i \nabla V_m) + I_e, $$

    with ``V_m`` the cell model's voltage state (mV), ``phi_e`` the extracellular potential
    (mV), ``D_i = sigma_i / (chi C_m)`` and ``D_e = sigma_e / (chi C_m)`` the intracellular and
    extracellular conductivities as diffusivities (mm^2/ms) and ``I_e`` the current injected
    into the extracellular space per unit volume, scaled the same way (mV/ms; see
    `ExtracellularStimulus`). Neither current crosses the domain edge or the mask boundary:
    the tissue is insulated (no surrounding bath; a bath is not implemented yet). ``V_m`` and
    ``phi_e`` live on the tissue cells.

    `msim.simulate` advances it with `BidomainDiffusion` (chosen automatically: the default
    ``ExplicitDiffusion()`` becomes ``BidomainDiffusion(parabolic=ExplicitDiffusion())``).
    ``diffused()`` reports the voltage with the intracellular conductivity, so stability
    limits, trackers, probes and the pseudo-ECG work as for a monodomain; ``phi_e`` is
    algebraic in ``V_m`` at each instant and is recovered from saved frames by
    `extracellular_potential` (the same equation the scheme solves, to solver tolerance).

    With equal anisotropy ratios (``D_e = lambda D_i``) the bidomain reduces to a monodomain
    with ``D = lambda / (1 + lambda) D_i`` (and ``I_e`` acts as a local current
    ``-I_e / (1 + lambda)``); with unequal ratios it does not, and shocks make virtual
    electrodes, which a monodomain cannot express.

    Args:
        cell: the cell model (`Monodomain`'s conventions).
        grid: the `msim.Grid`; its tissue (mask) must be one connected piece.
        intracellular: ``D_i``: a scalar, a per-cell field or a conductivity such as
            `msim.tissue.Fibres` (mm^2/ms).
        extracellular: ``D_e``, the same kinds (mm^2/ms).
        stimulus: transmembrane stimuli (`msim.Stimulus`, as for `Monodomain`), or None.
        extracellular_stimulus: an `ExtracellularStimulus` or a sequence of them, or None.
        reference: how the constant of ``phi_e`` is fixed: ``"mean"`` (default; zero mean over
            the tissue; the injected current must then be balanced, which an electrode pair
            is) or the grid index of a ground cell, a tissue cell where ``phi_e = 0`` (an
            electrode that may take up net current).
        initial_state: ``(n_states, *grid)`` or ``(n_states,)``; default the cell's rest state.

    Reference: C. S. Henriquez, "Simulating the electrical behavior of cardiac tissue using
    the bidomain model", Crit. Rev. Biomed. Eng. 21, 1-77 (1993).
    """

    cell: AbstractCellModel
    grid: Grid
    intracellular: AbstractConductivity
    extracellular: AbstractConductivity
    stimuli: tuple[Stimulus, ...]
    stimulus_masks: Array
    extracellular_stimuli: tuple[ExtracellularStimulus, ...]
    extracellular_weights: Array  # (n_extracellular, *grid), per unit strength
    reference: str | tuple[int, ...] = eqx.field(static=True)
    initial_state: Array

    def __init__(
        self,
        cell,
        grid,
        intracellular,
        extracellular,
        stimulus=None,
        extracellular_stimulus=None,
        reference="mean",
        initial_state=None,
    ):
        _check_cell(cell, grid)
        self.cell = cell
        self.grid = grid
        self.intracellular = checked_conductivity(intracellular, grid)
        self.extracellular = checked_conductivity(extracellular, grid)
        self.reference = _reference(reference, grid)
        _check_connected(grid)
        self.stimuli = _as_stimuli(stimulus)
        self.initial_state = _initial_state(cell, grid, initial_state)
        dtype = self.initial_state.dtype
        self.stimulus_masks = _stimulus_masks(self.stimuli, grid, dtype)
        if extracellular_stimulus is None:
            shocks = ()
        elif isinstance(extracellular_stimulus, ExtracellularStimulus):
            shocks = (extracellular_stimulus,)
        else:
            shocks = tuple(extracellular_stimulus)
        for s in shocks:
            if not isinstance(s, ExtracellularStimulus):
                raise TypeError(
                    "extracellular_stimulus must be ExtracellularStimulus objects, got "
                    f"{type(s).__name__}."
                )
            if s.cathode is None and self.reference == "mean":
                raise ValueError(
                    "An ExtracellularStimulus without a cathode injects a net current, which "
                    "reference='mean' cannot take up (the elliptic system is singular: no "
                    "potential satisfies it). Give a cathode, or ground a cell: "
                    "Bidomain(..., reference=(i, j, ...))."
                )
        self.extracellular_stimuli = shocks
        weights = [s.weights(grid) for s in shocks]
        self.extracellular_weights = jnp.asarray(
            np.stack(weights) if weights else np.zeros((0, *grid.shape)), dtype
        )

    def diffused(self) -> tuple[tuple[int, AbstractConductivity], ...]:
        return ((self.cell.voltage_index, self.intracellular),)

    def diffusion_scheme(self, diffusion: AbstractDiffusion) -> AbstractDiffusion:
        if isinstance(diffusion, BidomainDiffusion):
            return diffusion
        if isinstance(diffusion, ExplicitDiffusion):
            return BidomainDiffusion(parabolic=diffusion)
        raise TypeError(
            f"A Bidomain problem is advanced by BidomainDiffusion (its parabolic part explicit: "
            f"ExplicitDiffusion), got {type(diffusion).__name__}; an implicit parabolic step "
            "is not implemented yet."
        )

    def invalid_diffusivity(self) -> Array:
        return self.intracellular.invalid() | self.extracellular.invalid()

    def invalid_stimulus(self, dt: float) -> Array:
        flags = [s.invalid(dt) for s in self.stimuli]
        flags += [s.pulse.invalid(dt) for s in self.extracellular_stimuli]
        return jnp.stack(flags).any() if flags else jnp.zeros((), bool)

    def extracellular_current(self, t: Array) -> Array:
        """``I_e`` at time ``t``, shape ``grid`` (mV/ms; sums to zero with the mean
        reference)."""
        dtype = self.initial_state.dtype
        current = jnp.zeros(self.grid.shape, dtype)
        for s, w in zip(self.extracellular_stimuli, self.extracellular_weights, strict=True):
            current = current + (s.strength * s.pulse.envelope(t)).astype(dtype) * w
        return current

    def extracellular_potential(
        self, vm, ts=None, *, rtol: float | None = None, max_steps: int = 1000
    ) -> Array:
        r"""``phi_e`` of transmembrane voltages: the elliptic equation solved for each frame.

        For a bidomain run this is the run's own extracellular potential at the saved
        frames (it is algebraic in ``V_m``), e.g.
        ``problem.extracellular_potential(sol.snapshot("V"), sol.ts)``.

        Args:
            vm: ``V_m`` (mV), ``(*grid)`` or ``(n_frames, *grid)``.
            ts: the frames' times (ms), a scalar or ``(n_frames,)``: when the extracellular
                stimulus is evaluated. None: no extracellular current.
            rtol: the solve's tolerance (every cell's residual below ``rtol`` times the
                scale of the equation's terms); default 1e-10 in float64, 1e-5 in float32.
            max_steps: the most iterations per frame; a solve that does not converge is an
                error.

        Returns:
            ``phi_e`` (mV) of ``vm``'s shape, fixed by the problem's reference.
        """
        _check_solver(rtol, max_steps)
        current = None
        vm = jnp.asarray(vm)
        if ts is not None and self.extracellular_stimuli:
            times = jnp.asarray(ts, vm.dtype)
            if vm.shape == self.grid.shape:
                if times.ndim != 0:
                    raise ValueError("ts must be one time for one voltage field.")
                current = self.extracellular_current(times)
            else:
                if times.shape != vm.shape[:1]:
                    raise ValueError(
                        f"ts has shape {times.shape}; give one time per frame, {vm.shape[:1]}."
                    )
                current = jax.vmap(self.extracellular_current)(times)
        return recover_potential(
            vm,
            self.grid,
            self.intracellular,
            self.extracellular,
            self.reference,
            current,
            rtol,
            max_steps,
        )


# ---------------------------------------------------------------------------------------------
# The scheme


@dataclasses.dataclass(frozen=True)
class _BidomainPlan:
    n_sub: int
    check: bool  # the intracellular rate was traced at plan time
    rtol: float | None
    max_steps: int


class _PreparedBidomain(AbstractPreparedDiffusion):
    elliptic: _Elliptic
    problem: Bidomain
    plan: _BidomainPlan = eqx.field(static=True)
    solves: ClassVar[bool] = True

    def init(self, states):
        # The warm start of the first solve; each step then starts from the last one's phi_e.
        return jnp.zeros(self.problem.grid.shape, states[0].dtype)

    def advance(self, t, states, h, carry):
        vi = self.problem.cell.voltage_index
        v = states[vi]
        dtype = v.dtype
        rtol = self.plan.rtol if self.plan.rtol is not None else _default_rtol(dtype)
        n = self.plan.n_sub
        dh = h / n
        li = self.elliptic.intracellular
        t = jnp.asarray(t, dtype)

        def substep(k, c):
            # Decoupled (Gauss-Seidel): phi_e from this sub-step's V_m, then forward Euler of
            # the parabolic equation with that phi_e.
            v, phi, stats = c
            tk = t + (jnp.asarray(k, dtype) + 0.5) * dh
            current = self.problem.extracellular_current(tk)
            phi, st = _potential(self.elliptic, v, current, phi, rtol, self.plan.max_steps)
            v = v + dh * li.apply(v + phi)
            return v, phi, stats.add(st, jnp.zeros((), jnp.int32))

        c = (v, carry, SolveStats.zero(dtype))
        v, phi, stats = substep(0, c) if n == 1 else lax.fori_loop(0, n, substep, c)
        out = list(states)
        out[vi] = v
        return tuple(out), phi, stats

    def step(self, states, h):
        """One diffusion interval from t = 0 and a zero warm start (the time loop calls
        `advance`, which carries the time and the last phi_e)."""
        t = jnp.zeros((), states[0].dtype)
        return self.advance(t, states, h, self.init(states))[0]

    def unstable(self, h):
        if not self.plan.check:
            return jnp.zeros((), bool)
        rate = self.elliptic.intracellular.max_rate()
        return ~(h * rate <= 2.0 * self.plan.n_sub * (1 + 1e-6))


class BidomainDiffusion(AbstractDiffusion):
    r"""The bidomain's diffusion step: an elliptic solve for ``phi_e``, then an explicit
    parabolic step of ``V_m`` (decoupled, Gauss-Seidel order).

    Each diffusion interval ``h`` is split into the ``n`` sub-steps that ``parabolic``
    (an `ExplicitDiffusion`) chooses for ``D_i`` (``h / n * rate(L_i) <= 2``; the bidomain's
    own operator ``L_i - L_i (L_i + L_e)^{-1} L_i`` is no stiffer). Each sub-step solves

    $$ -(L_i + L_e)\,\phi_e = L_i V_m + I_e(t_k + \delta/2) $$

    with the constant fixed by the problem's reference, by conjugate gradients (symmetric
    stencils: isotropic, heterogeneous) or GMRES (fibre stencils are not symmetric next to
    walls), Jacobi-preconditioned and warm-started from the previous sub-step's ``phi_e``
    (the scheme's carry through the time loop), then takes the forward Euler step
    ``V_m += delta L_i (V_m + phi_e)`` (``delta = h / n``). First order in time, like the
    explicit monodomain step. Gradients go through the solves' adjoints.

    A solve that does not converge within ``max_steps`` iterations sets
    ``RESULTS.linear_solver`` (with ``throw=True``: `msim.SimulationError` with the time and
    the relative residual); ``Solution.linear_solves`` counts the solves and iterations.

    Args:
        parabolic: the `ExplicitDiffusion` whose sub-step rule the parabolic part follows
            (``substeps=None``: automatic; an integer fixes the count). Its integrator must be
            `ForwardEuler` (a Heun step would need a second solve per sub-step).
        rtol: the elliptic solve's tolerance: every cell's residual below ``rtol`` times
            ``max|b| + max(diag A) max(max|V_m|, 1)`` (the scale of the equation's terms, at
            least one voltage unit); default
            1e-10 in float64, 1e-5 in float32.
        max_steps: the most iterations of one solve.
    """

    parabolic: ExplicitDiffusion = ExplicitDiffusion()
    rtol: float | None = eqx.field(static=True, default=None)
    max_steps: int = eqx.field(static=True, default=1000)

    def __check_init__(self):
        if not isinstance(self.parabolic, ExplicitDiffusion):
            raise TypeError(
                "BidomainDiffusion parabolic must be an ExplicitDiffusion (an implicit "
                f"parabolic step is not implemented yet), got {type(self.parabolic).__name__}."
            )
        if not isinstance(self.parabolic.integrator, ForwardEuler):
            raise ValueError(
                "BidomainDiffusion takes forward Euler parabolic sub-steps "
                "(ExplicitDiffusion(integrator=ForwardEuler())); a Heun step would need a "
                "second elliptic solve per sub-step."
            )
        _check_solver(self.rtol, self.max_steps)

    def plan(self, problem, dt, fraction):
        if not isinstance(problem, Bidomain):
            raise TypeError(
                f"BidomainDiffusion advances a Bidomain problem, got {type(problem).__name__}; "
                "use ExplicitDiffusion or ImplicitDiffusion for a monodomain."
            )
        for s in problem.extracellular_stimuli:
            s.pulse.check_step(dt)
        sub = self.parabolic.plan(problem, dt, fraction)
        assert isinstance(sub, _SubSteps)
        return _BidomainPlan(sub.n_subs[0], sub.check, self.rtol, int(self.max_steps))

    def prepare(self, problem, plan):
        assert isinstance(problem, Bidomain) and isinstance(plan, _BidomainPlan)
        grid = problem.grid
        elliptic = _elliptic(
            problem.intracellular.stencil(grid),
            problem.extracellular.stencil(grid),
            grid,
            problem.reference,
            problem.initial_state.dtype,
        )
        return _PreparedBidomain(elliptic, problem, plan)

    def describe(self) -> str:
        """The solver, for error messages."""
        return (
            "the bidomain's elliptic solve for the extracellular potential (CG or GMRES, "
            f"at most {self.max_steps} iterations)"
        )
