"""Choosing what to fit: parameter paths into a problem, transforms to unconstrained space,
priors and regularisers."""

import abc
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._convert import concrete
from .._paths import find_array, parse_path, resolve as _resolve
from .._types import Array, ArrayLike

# --------------------------------------------------------------------------------------------
# Transforms


class AbstractTransform(eqx.Module):
    """A map from unconstrained values ``theta`` (what the optimiser moves) to physical values
    ``x``, elementwise, so it works for scalars and whole fields alike."""

    @abc.abstractmethod
    def forward(self, theta: Array) -> Array:
        """The physical value of the unconstrained ``theta``."""

    @abc.abstractmethod
    def inverse(self, x: Array) -> Array:
        """The unconstrained value of the physical ``x`` (``x`` must be in the domain)."""

    @abc.abstractmethod
    def domain(self) -> str:
        """The physical values allowed, in words (for error messages)."""

    @abc.abstractmethod
    def contains(self, x: np.ndarray) -> np.ndarray:
        """Whether each physical value lies in the domain (concrete NumPy values)."""


class Identity(AbstractTransform):
    """``x = theta``: an unconstrained parameter (any finite value)."""

    def forward(self, theta: Array) -> Array:
        return theta

    def inverse(self, x: Array) -> Array:
        return x

    def domain(self) -> str:
        return "finite values"

    def contains(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(np.isfinite(x))


class Log(AbstractTransform):
    """``x = exp(theta)``: a positive parameter, moved in relative (logarithmic) steps. Good for
    rate constants and diffusivities spanning orders of magnitude."""

    def forward(self, theta: Array) -> Array:
        return jnp.exp(theta)

    def inverse(self, x: Array) -> Array:
        return jnp.log(x)

    def domain(self) -> str:
        return "positive finite values (x > 0)"

    def contains(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(np.isfinite(x) & (x > 0))


class Softplus(AbstractTransform):
    """``x = log(1 + exp(theta))``: a positive parameter that moves in absolute steps when
    large (unlike `Log`), and can approach zero smoothly."""

    def forward(self, theta: Array) -> Array:
        return jax.nn.softplus(theta)

    def inverse(self, x: Array) -> Array:
        # log(exp(x) - 1), written to stay accurate for both small and large x.
        return x + jnp.log(-jnp.expm1(-x))

    def domain(self) -> str:
        return "positive finite values (x > 0)"

    def contains(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(np.isfinite(x) & (x > 0))


class Sigmoid(AbstractTransform):
    """``x = lo + (hi - lo) sigmoid(theta)``: a parameter boxed in the open interval
    ``(lo, hi)`` (same units as the parameter). ``lo`` and ``hi`` are scalars or arrays that
    broadcast to the parameter."""

    lo: Array = eqx.field(converter=jnp.asarray)
    hi: Array = eqx.field(converter=jnp.asarray)

    def __check_init__(self):
        lo, hi = concrete(self.lo), concrete(self.hi)
        if lo is None or hi is None:  # traced (inside jit): only concrete bounds can be checked
            return
        if not (np.isfinite(lo).all() and np.isfinite(hi).all() and (lo < hi).all()):
            raise ValueError(
                f"Sigmoid bounds need finite lo < hi, got lo={lo}, hi={hi}. For a one-sided "
                "bound (x > 0) use Log() or Softplus()."
            )

    def forward(self, theta: Array) -> Array:
        lo, hi = self.lo.astype(theta.dtype), self.hi.astype(theta.dtype)
        return lo + (hi - lo) * jax.nn.sigmoid(theta)

    def inverse(self, x: Array) -> Array:
        lo, hi = self.lo.astype(x.dtype), self.hi.astype(x.dtype)
        s = (x - lo) / (hi - lo)
        return jnp.log(s) - jnp.log1p(-s)

    def domain(self) -> str:
        return f"values strictly inside ({np.asarray(self.lo)}, {np.asarray(self.hi)})"

    def contains(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(np.isfinite(x) & (x > np.asarray(self.lo)) & (x < np.asarray(self.hi)))


# --------------------------------------------------------------------------------------------
# Priors and regularisers


class AbstractPenalty(eqx.Module):
    """A scalar penalty of a parameter's physical value, added to the loss."""

    @abc.abstractmethod
    def __call__(self, x: Array) -> Array:
        """The penalty (a scalar, dimensionless like the loss it is added to)."""


class Gaussian(AbstractPenalty):
    """A Gaussian prior: adds ``0.5 sum(((x - mean) / std)^2)``, the negative log density up
    to a constant. ``mean`` and ``std`` are in the parameter's physical units (scalars or
    fields that broadcast to it)."""

    mean: Array = eqx.field(converter=jnp.asarray)
    std: Array = eqx.field(converter=jnp.asarray)

    def __check_init__(self):
        std = concrete(self.std)
        if std is not None and not (np.isfinite(std).all() and (std > 0).all()):
            raise ValueError(f"Gaussian std must be positive and finite, got {std}.")

    def __call__(self, x: Array) -> Array:
        z = (x - self.mean.astype(x.dtype)) / self.std.astype(x.dtype)
        return 0.5 * jnp.sum(z**2)


def _differences(x: Array) -> list[Array]:
    return [jnp.diff(x, axis=a) for a in range(x.ndim)]


class Tikhonov(AbstractPenalty):
    """Smoothness of a field: ``weight * sum over axes and neighbouring cells of
    (x_{i+1} - x_i)^2`` (plain differences, no division by the spacing). Zero for a constant
    field. ``weight`` is in loss units per squared parameter unit."""

    weight: Array = eqx.field(converter=jnp.asarray)

    def __call__(self, x: Array) -> Array:
        total = sum((jnp.sum(d**2) for d in _differences(x)), jnp.zeros((), x.dtype))
        return self.weight.astype(x.dtype) * total


class TotalVariation(AbstractPenalty):
    """Smoothed total variation of a field, which keeps sharp edges (scars) better than
    `Tikhonov`: ``weight * sum_i sqrt(|grad x|_i^2 + eps^2)``, with forward differences
    (zero across the far edge). ``eps`` (parameter units) rounds the kink at zero gradient so
    the penalty is differentiable; good values are well below the jumps you expect."""

    weight: Array = eqx.field(converter=jnp.asarray)
    eps: Array = eqx.field(converter=jnp.asarray, default=1e-3)

    def __call__(self, x: Array) -> Array:
        squared = jnp.zeros(x.shape, x.dtype)
        for a, d in enumerate(_differences(x)):
            pad = [(0, 0)] * x.ndim
            pad[a] = (0, 1)
            squared = squared + jnp.pad(d, pad) ** 2
        eps = self.eps.astype(x.dtype)
        return self.weight.astype(x.dtype) * jnp.sum(jnp.sqrt(squared + eps**2))


# --------------------------------------------------------------------------------------------
# Parameters and selections


class Parameter(eqx.Module):
    """One thing to fit: a floating-point array of the problem, found by its path.

    Args:
        path: where the array lives in the problem, e.g. ``"cell.k"``,
            ``"conductivity.diffusivity"``, ``"stimuli[0].amplitude"``, ``"initial_state"``.
            Its current value in the problem is the start value.
        transform: how the optimiser's unconstrained value maps to the physical one:
            `Identity` (default), `Log` or `Softplus` (positive), `Sigmoid` (boxed).
        bounds: ``(lo, hi)``, physical units: shorthand for ``transform=Sigmoid(lo, hi)``.
        prior: a prior on the physical value, e.g. `Gaussian`.
        regularizer: a penalty of a field's roughness, `Tikhonov` or `TotalVariation`.
    """

    path: str = eqx.field(static=True)
    transform: AbstractTransform
    prior: AbstractPenalty | None
    regularizer: AbstractPenalty | None

    def __init__(
        self,
        path: str,
        transform: AbstractTransform | None = None,
        bounds: Sequence[ArrayLike] | None = None,
        prior: AbstractPenalty | None = None,
        regularizer: AbstractPenalty | None = None,
    ):
        parse_path(path)
        if transform is not None and not isinstance(transform, AbstractTransform):
            raise TypeError(
                f"Parameter {path!r}: transform must be Identity(), Log(), Softplus() or "
                f"Sigmoid(lo, hi), got {type(transform).__name__}."
            )
        if bounds is not None:
            if transform is not None and not isinstance(transform, Identity):
                raise ValueError(
                    f"Parameter {path!r}: give either bounds or a transform, not both (bounds "
                    "mean transform=Sigmoid(lo, hi))."
                )
            try:
                lo, hi = bounds
            except (TypeError, ValueError):
                raise ValueError(
                    f"Parameter {path!r}: bounds must be a pair (lo, hi), got {bounds!r}."
                ) from None
            try:
                transform = Sigmoid(lo, hi)
            except ValueError as e:
                raise ValueError(f"Parameter {path!r}: {e}") from None
        for name, p in (("prior", prior), ("regularizer", regularizer)):
            if p is not None and not isinstance(p, AbstractPenalty):
                raise TypeError(
                    f"Parameter {path!r}: {name} must be Gaussian, Tikhonov or TotalVariation, "
                    f"got {type(p).__name__}."
                )
        self.path = path.strip()
        self.transform = Identity() if transform is None else transform
        self.prior = prior
        self.regularizer = regularizer


def _as_parameter(p) -> Parameter:
    if isinstance(p, Parameter):
        return p
    if isinstance(p, str):
        return Parameter(p)
    raise TypeError(f"parameters must be Parameter objects or path strings, got {p!r}.")


class Selection(eqx.Module):
    """The parameters to fit in a problem; everything else stays fixed.

    The optimiser works on ``theta``, a dict from path to unconstrained array (shaped like the
    parameter); `apply` puts the physical values into the problem. Paths are resolved and start
    values checked here, before any compute.

    Args:
        problem: the problem whose parameters are fitted (e.g. a `msim.Monodomain`); its
            current values are the start values.
        parameters: `Parameter` objects or plain path strings (meaning `Identity`).

    Example:
        ```python
        selection = msim.calibrate.Selection(problem, [
            msim.calibrate.Parameter("cell.k", Log()),
            msim.calibrate.Parameter("conductivity.diffusivity", bounds=(0.1, 5.0)),
        ])
        ```
    """

    problem: Any
    parameters: tuple[Parameter, ...]
    keys: tuple[tuple[str | int, ...], ...] = eqx.field(static=True)

    def __init__(self, problem, parameters: Sequence[Parameter | str] | Parameter | str):
        if isinstance(parameters, (Parameter, str)):
            parameters = [parameters]
        params = tuple(_as_parameter(p) for p in parameters)
        if not params:
            raise ValueError("Select at least one parameter to fit.")
        paths = [p.path for p in params]
        duplicated = sorted({p for p in paths if paths.count(p) > 1})
        if duplicated:
            raise ValueError(f"Parameters selected more than once: {duplicated}.")
        what = f"{type(problem).__name__} problem"
        keys = []
        for p in params:
            k, leaf = find_array(problem, p.path, "Parameter path", what)
            x = concrete(leaf)
            if x is None:
                raise ValueError(
                    f"Parameter {p.path!r}: build the Selection outside jit (its start value "
                    "must be known)."
                )
            inside = p.transform.contains(x)
            if not np.all(inside):
                bad = x[~inside] if x.ndim else x
                raise ValueError(
                    f"Parameter {p.path!r}: the start value {np.ravel(bad)[:5]} is outside the "
                    f"domain of its transform ({type(p.transform).__name__}: "
                    f"{p.transform.domain()}). Change the start value in the problem or the "
                    "bounds."
                )
            if p.regularizer is not None and x.ndim == 0:
                raise ValueError(
                    f"Parameter {p.path!r}: a {type(p.regularizer).__name__} regularizer "
                    "measures the roughness of a field, but this parameter is a scalar. Use a "
                    "prior instead, or make it a field."
                )
            keys.append(k)
        self.problem = problem
        self.parameters = params
        self.keys = tuple(keys)

    @property
    def paths(self) -> tuple[str, ...]:
        """The selected paths, in order."""
        return tuple(p.path for p in self.parameters)

    def values(self, problem=None) -> dict[str, Array]:
        """The selected physical values in ``problem`` (default the selection's own)."""
        problem = self.problem if problem is None else problem
        return {
            p.path: _resolve(problem, k) for p, k in zip(self.parameters, self.keys, strict=True)
        }

    def initial(self) -> dict[str, Array]:
        """The unconstrained start values ``theta``: a dict from path to array."""
        theta = {}
        for p, x in zip(self.parameters, self.values().values(), strict=True):
            t = p.transform.inverse(jnp.asarray(x))
            # Strongly typed, so that the optimiser's updates keep the same type (no retrace).
            theta[p.path] = jnp.asarray(t, dtype=t.dtype)
        return theta

    def physical(self, theta: dict[str, Array]) -> dict[str, Array]:
        """The physical values of ``theta``: a dict from path to array."""
        self._check_theta(theta)
        return {p.path: p.transform.forward(theta[p.path]) for p in self.parameters}

    def apply(self, problem, theta: dict[str, Array]):
        """``problem`` with the selected leaves replaced by the physical values of ``theta``.
        Nothing else changes (and nothing else is differentiated through ``theta``)."""
        values = self.physical(theta)
        old = self.values(problem)
        new = []
        for path, value in values.items():
            ref = old[path]
            if jnp.shape(value) != jnp.shape(ref):
                raise ValueError(
                    f"Parameter {path!r}: theta has shape {jnp.shape(value)}, the problem's "
                    f"value has shape {jnp.shape(ref)}. (To fit several parameter sets at "
                    "once, use calibrate's multistart, or jax.vmap.)"
                )
            new.append(jnp.asarray(value).astype(ref.dtype))
        keys = self.keys
        return eqx.tree_at(lambda p: [_resolve(p, k) for k in keys], problem, new)

    def penalty(self, theta: dict[str, Array]) -> Array:
        """The sum of all priors and regularisers at ``theta`` (a scalar)."""
        values = self.physical(theta)
        dtype = jnp.result_type(*values.values())
        total = jnp.zeros((), dtype)
        for p in self.parameters:
            for term in (p.prior, p.regularizer):
                if term is not None:
                    total = total + term(values[p.path]).astype(dtype)
        return total

    def starts(self, n: int, key: Array, scale: float = 0.5) -> dict[str, Array]:
        """``n`` start points for a multi-start fit, stacked on a leading axis: the first is
        `initial`, the others add ``scale`` times standard normal noise in unconstrained space
        (for `Log` that is a relative spread of about ``scale``; for `Identity` it is in the
        parameter's own units)."""
        n = int(n)
        if n < 1:
            raise ValueError(f"The number of starts must be positive, got {n}.")
        theta = self.initial()
        keys = jax.random.split(key, len(theta))
        out = {}
        for k, (path, t) in zip(keys, theta.items(), strict=True):
            noise = jax.random.normal(k, (n - 1, *t.shape), t.dtype)
            out[path] = jnp.concatenate([t[None], t[None] + jnp.asarray(scale, t.dtype) * noise])
        return out

    def _check_theta(self, theta) -> None:
        if not isinstance(theta, dict) or set(theta) != set(self.paths):
            got = sorted(theta) if isinstance(theta, dict) else type(theta).__name__
            raise ValueError(
                f"theta must be a dict with the selected paths {list(self.paths)} as keys, got "
                f"{got}."
            )
