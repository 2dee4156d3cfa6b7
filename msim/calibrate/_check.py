"""Gradients you can trust: automatic derivatives against central finite differences."""

import dataclasses
from collections.abc import Callable
from typing import final

import jax
import jax.numpy as jnp
import numpy as np

from .._paths import format_key as _format_key
from .._types import Array


def _leaf_label(keys) -> str:
    # A dict of parameters by path (what `Selection.initial` gives) reads as the paths.
    if keys and isinstance(keys[0], jax.tree_util.DictKey) and isinstance(keys[0].key, str):
        return keys[0].key + "".join(_format_key(k) for k in keys[1:])
    return "".join(_format_key(k) for k in keys).lstrip(".") or "theta"


def _entry_label(base: str, shape: tuple[int, ...], flat: int) -> str:
    if not shape:
        return base
    index = np.unravel_index(flat, shape)
    return f"{base}[{', '.join(str(int(i)) for i in index)}]"


@final
@dataclasses.dataclass(frozen=True)
class GradientReport:
    """The result of `check_gradients`.

    Attributes:
        labels: what each row compares: a parameter entry (``"cell.k"``, ``"field[2, 3]"``) or
            a random direction (``"direction 0"``).
        analytic: the derivative from ``jax.grad`` along each row.
        numeric: the central finite difference along each row.
        errors: relative errors ``|analytic - numeric| / max(|analytic|, |numeric|, atol)``
            (0 where both are 0).
        rtol: the tolerance the errors were held to.
        value: ``f(theta)``.
    """

    labels: tuple[str, ...]
    analytic: np.ndarray
    numeric: np.ndarray
    errors: np.ndarray
    rtol: float
    value: float

    @property
    def max_error(self) -> float:
        """The largest relative error over all rows."""
        return float(np.max(self.errors)) if self.errors.size else 0.0

    @property
    def ok(self) -> bool:
        """Whether every row agrees to ``rtol`` (and nothing is NaN)."""
        finite = np.all(np.isfinite(self.analytic)) and np.all(np.isfinite(self.numeric))
        return bool(finite and self.max_error <= self.rtol)

    def __str__(self) -> str:
        width = max([len("entry"), *(len(s) for s in self.labels)])
        lines = [f"{'entry':<{width}}  {'jax.grad':>14}  {'finite diff.':>14}  {'rel. error':>10}"]
        for label, a, n, e in zip(
            self.labels, self.analytic, self.numeric, self.errors, strict=True
        ):
            flag = "" if e <= self.rtol else "  <-- exceeds rtol"
            lines.append(f"{label:<{width}}  {a:>14.7g}  {n:>14.7g}  {e:>10.2e}{flag}")
        verdict = "ok" if self.ok else "FAILED"
        lines.append(
            f"{verdict}: max relative error {self.max_error:.2e} (rtol {self.rtol:.1e}), "
            f"{len(self.labels)} comparisons, f = {self.value:.10g}"
        )
        return "\n".join(lines)


def check_gradients(
    f: Callable[..., Array],
    theta,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    n_directions: int | None = None,
    key: Array | None = None,
    atol: float = 0.0,
) -> GradientReport:
    """Compare ``jax.grad(f)`` at ``theta`` with central finite differences.

    For each scalar entry ``i`` of ``theta`` (a pytree of floating arrays), the derivative
    ``g_i`` from ``jax.grad`` is compared with ``(f(theta + h e_i) - f(theta - h e_i)) / (2 h)``,
    ``h = eps * max(1, |theta_i|)``. For fields with many entries give ``n_directions``: the
    directional derivative ``<g, v>`` is then compared along that many random unit directions
    ``v`` (all leaves at once, drawn from ``key``).

    Run it in float64: with ``eps = 1e-6`` the truncation error is ~1e-12 relative and the
    rounding error ~1e-16 |f| / h, so agreement to 1e-5 or better is expected of a correct
    gradient. In float32 use ``eps`` ~1e-3 and a loose ``rtol``.

    Args:
        f: a scalar function of ``theta`` (it is jit-compiled here).
        theta: where to differentiate.
        eps: relative finite-difference step.
        rtol: tolerance on the relative error for ``report.ok``.
        n_directions: compare along this many random directions instead of every entry.
        key: PRNG key for the directions (default ``jax.random.key(0)``).
        atol: floor of the error's denominator: derivatives below it are compared
            absolutely (for entries whose true derivative is zero).

    Returns:
        A `GradientReport`; ``print(report)`` shows the table, ``report.ok`` the verdict.
    """
    leaves, treedef = jax.tree_util.tree_flatten_with_path(theta)
    if not leaves:
        raise ValueError("theta has no arrays to differentiate.")
    arrays = []
    for keys, leaf in leaves:
        a = jnp.asarray(leaf)
        if not jnp.issubdtype(a.dtype, jnp.floating):
            raise ValueError(
                f"check_gradients: {_leaf_label(keys)} has dtype {a.dtype}; only floating-point "
                "arrays can be differentiated."
            )
        arrays.append(a)
    theta = jax.tree_util.tree_unflatten(treedef, arrays)
    fj = jax.jit(f)
    out = jax.eval_shape(fj, theta)
    if getattr(out, "shape", None) != ():
        raise ValueError(
            f"check_gradients needs a scalar function; f returned shape "
            f"{getattr(out, 'shape', type(out).__name__)}."
        )
    value, grad = jax.jit(jax.value_and_grad(f))(theta)
    grad_leaves = [np.asarray(g) for g in jax.tree.leaves(grad)]

    def at(shifted: list[Array]) -> float:
        return float(fj(jax.tree_util.tree_unflatten(treedef, shifted)))

    labels, analytic, numeric = [], [], []
    if n_directions is None:
        for j, ((keys, _), a, g) in enumerate(zip(leaves, arrays, grad_leaves, strict=True)):
            base = _leaf_label(keys)
            flat = a.reshape(-1)
            for i in range(flat.size):
                h = eps * max(1.0, abs(float(flat[i])))
                plus = [*arrays]
                minus = [*arrays]
                plus[j] = flat.at[i].add(h).reshape(a.shape)
                minus[j] = flat.at[i].add(-h).reshape(a.shape)
                fd = (at(plus) - at(minus)) / (2 * h)
                labels.append(_entry_label(base, a.shape, i))
                analytic.append(float(g.reshape(-1)[i]))
                numeric.append(fd)
    else:
        if int(n_directions) < 1:
            raise ValueError(f"n_directions must be positive, got {n_directions}.")
        key = jax.random.key(0) if key is None else key
        scale = max(1.0, *(float(jnp.max(jnp.abs(a))) if a.size else 0.0 for a in arrays))
        h = eps * scale
        for d, k in enumerate(jax.random.split(key, int(n_directions))):
            ks = jax.random.split(k, len(arrays))
            v = [jax.random.normal(kk, a.shape, a.dtype) for kk, a in zip(ks, arrays, strict=True)]
            norm = float(np.sqrt(sum(float(jnp.sum(x**2)) for x in v)))
            v = [x / norm for x in v]
            plus = [a + h * x for a, x in zip(arrays, v, strict=True)]
            minus = [a - h * x for a, x in zip(arrays, v, strict=True)]
            labels.append(f"direction {d}")
            analytic.append(
                float(sum(np.vdot(g, np.asarray(x)) for g, x in zip(grad_leaves, v, strict=True)))
            )
            numeric.append((at(plus) - at(minus)) / (2 * h))
    analytic_ = np.asarray(analytic, float)
    numeric_ = np.asarray(numeric, float)
    scale_ = np.maximum(np.maximum(np.abs(analytic_), np.abs(numeric_)), atol)
    diff = np.abs(analytic_ - numeric_)
    with np.errstate(invalid="ignore", divide="ignore"):
        errors = np.where(diff == 0, 0.0, diff / np.where(scale_ > 0, scale_, 1.0))
    errors = np.where(np.isfinite(analytic_) & np.isfinite(numeric_), errors, np.inf)
    return GradientReport(
        labels=tuple(labels),
        analytic=analytic_,
        numeric=numeric_,
        errors=errors,
        rtol=float(rtol),
        value=float(value),
    )
