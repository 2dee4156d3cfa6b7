"""Structural sparsity of a Jacobian, read from the function's jaxpr, and column colouring.

`jacobian_sparsity` traces a function once (abstractly: no values are computed from its
inputs) and propagates, through every equation of the jaxpr, which inputs each element of each
intermediate array depends on. The result is a superset of the non-zeros the Jacobian can have
at any point: every branch of a ``where``/``select`` counts, whatever the condition; a primitive
this module does not know makes every output element depend on every input it is given. Only
what cannot carry a derivative is dropped (boolean and integer values, and so comparisons,
``floor``, ``round``, ``sign``): their tangents are zero in JAX's own forward mode too.

`colour_columns` groups the columns that share no non-zero row (greedy, largest columns first),
so that one Jacobian-vector product per group recovers every non-zero entry.
"""

from collections.abc import Callable, Sequence

import jax
import jax.extend.core as jcore
import jax.numpy as jnp
import numpy as np

# Primitives whose output element k depends on element k of each input (inputs of the
# output's shape, or scalars broadcast to it).
_ELEMENTWISE = frozenset(
    [
        "abs",
        "acos",
        "acosh",
        "add",
        "asin",
        "asinh",
        "atan",
        "atan2",
        "atanh",
        "cbrt",
        "clamp",
        "conj",
        "copy",
        "copy_p",
        "cos",
        "cosh",
        "digamma",
        "div",
        "erf",
        "erf_inv",
        "erfc",
        "exp",
        "exp2",
        "expm1",
        "imag",
        "integer_pow",
        "is_finite",
        "lgamma",
        "log",
        "log1p",
        "logistic",
        "max",
        "min",
        "mul",
        "neg",
        "nextafter",
        "pow",
        "real",
        "reduce_precision",
        "rem",
        "rsqrt",
        "select_n",
        "sin",
        "sinh",
        "sqrt",
        "square",
        "sub",
        "tan",
        "tanh",
        "convert_element_type",
    ]
)
# Primitives whose derivative is zero wherever it exists (JAX's forward mode gives zero).
_ZERO_DERIVATIVE = frozenset(["floor", "ceil", "round", "sign", "stop_gradient"])
# Primitives that only move, copy, sum or pick elements (linear with non-negative weights in
# their array operands): applied to 0/1 indicator arrays they give the dependency pattern.
_STRUCTURAL = frozenset(
    [
        "broadcast_in_dim",
        "concatenate",
        "cumsum",
        "cummax",
        "cummin",
        "dynamic_slice",
        "dynamic_update_slice",
        "expand_dims",
        "gather",
        "pad",
        "reduce_max",
        "reduce_min",
        "reduce_sum",
        "reshape",
        "rev",
        "scatter",
        "scatter-add",
        "scatter_add",
        "slice",
        "squeeze",
        "stack",
        "transpose",
    ]
)


def _broadcast_in_dim(d, p):
    (x,) = d
    shape, dims = tuple(p["shape"]), tuple(p["broadcast_dimensions"])
    expanded = x.reshape(
        [x.shape[dims.index(i)] if i in dims else 1 for i in range(len(shape))] + [x.shape[-1]]
    )
    return np.broadcast_to(expanded, (*shape, x.shape[-1])).copy()


def _slice(d, p):
    (x,) = d
    strides = p["strides"] or (1,) * len(p["start_indices"])
    index = tuple(
        slice(a, b, c)
        for a, b, c in zip(p["start_indices"], p["limit_indices"], strides, strict=True)
    )
    return x[index]


# The same data movement on the dependency arrays (trailing axis: the inputs), in NumPy:
# these are most of a cell model's structural equations, and need no compilation.
_NUMPY = {
    "squeeze": lambda d, p: np.squeeze(d[0], axis=tuple(p["dimensions"])),
    "expand_dims": lambda d, p: np.expand_dims(d[0], axis=tuple(p["dimensions"])),
    "reshape": lambda d, p: d[0].reshape((*p["new_sizes"], d[0].shape[-1])),
    "broadcast_in_dim": lambda d, p: _broadcast_in_dim(d[:1], p),
    "slice": _slice,
    "concatenate": lambda d, p: np.concatenate(d, axis=p["dimension"]),
    "stack": lambda d, p: np.stack(d, axis=p["axis"]),
    "transpose": lambda d, p: np.transpose(d[0], (*p["permutation"], d[0].ndim - 1)),
    "reduce_sum": lambda d, p: d[0].any(axis=tuple(p["axes"])),
    "reduce_max": lambda d, p: d[0].any(axis=tuple(p["axes"])),
    "reduce_min": lambda d, p: d[0].any(axis=tuple(p["axes"])),
}


def _inexact(aval) -> bool:
    return jnp.issubdtype(aval.dtype, jnp.inexact)


class _Unknown:
    """A value the analysis does not know (it depends on the traced inputs)."""


_UNKNOWN = _Unknown()


def _propagate(
    jaxpr: jcore.Jaxpr,
    consts: Sequence,
    in_deps: Sequence[np.ndarray],
    in_values: Sequence,
    n: int,
) -> list[np.ndarray]:
    """Dependencies of ``jaxpr``'s outputs: boolean arrays ``(*shape, n)``, True where an
    element depends on input ``k``. ``in_values`` are the inputs' concrete values where known
    (literals and constants inside; ``_UNKNOWN`` otherwise), used for index operands."""
    deps: dict = {}
    values: dict = {}

    def read(v):
        if isinstance(v, jcore.Literal):
            return np.zeros((*np.shape(v.val), n), bool), v.val
        return deps[v], values[v]

    def write(v, d, value=_UNKNOWN):
        if isinstance(v, jcore.DropVar):
            return
        deps[v] = d
        values[v] = value

    for v, c in zip(jaxpr.constvars, consts, strict=True):
        write(v, np.zeros((*np.shape(c), n), bool), c)
    for v, d, value in zip(jaxpr.invars, in_deps, in_values, strict=True):
        write(v, d, value)

    for eqn in jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        in_d = [d for d, _ in ins]
        in_v = [value for _, value in ins]
        outs = eqn.outvars
        shapes = [tuple(getattr(o.aval, "shape", ())) for o in outs]
        none = [np.zeros((*s, n), bool) for s in shapes]
        if all(not isinstance(value, _Unknown) for value in in_v):
            # Every input known: evaluate (index arithmetic, constants).
            with jax.ensure_compile_time_eval():
                result = eqn.primitive.bind(*in_v, **eqn.params)
            result = result if eqn.primitive.multiple_results else [result]
            for o, d, r in zip(outs, none, result, strict=True):
                write(o, d, np.asarray(r))
            continue
        if (
            not any(d.any() for d in in_d)
            or not any(_inexact(o.aval) for o in outs)
            or eqn.primitive.name in _ZERO_DERIVATIVE
        ):
            for o, d in zip(outs, none, strict=True):
                write(o, d)
            continue
        sub = jcore.jaxprs_in_params(eqn.params)
        name = eqn.primitive.name
        if name in _ELEMENTWISE:
            (shape,) = shapes
            d = np.zeros((*shape, n), bool)
            for x in in_d:
                d |= np.broadcast_to(x, (*shape, n))
            out = [d]
        elif name in _NUMPY and (name != "reshape" or eqn.params.get("dimensions") is None):
            out = [_NUMPY[name](in_d, eqn.params)]
        elif name in _STRUCTURAL and all(
            not isinstance(value, _Unknown) or _inexact(v.aval)
            for v, value in zip(eqn.invars, in_v, strict=True)
        ):
            out = _indicator(eqn, in_d, in_v, n)
        elif name in ("jit", "pjit", "closed_call", "core_call", "remat", "checkpoint") or (
            name.startswith("custom_jvp_call") or name.startswith("custom_vjp_call")
        ):
            inner = _inner(eqn.params)
            if inner is None:
                out = _everything(in_d, shapes, n)
            else:
                out = _propagate(inner.jaxpr, inner.consts, in_d, in_v, n)
        elif name == "cond" and sub:
            # Any branch may run: the union of the branches (the index carries no derivative).
            branches = eqn.params["branches"]
            out = none
            for branch in branches:
                got = _propagate(branch.jaxpr, branch.consts, in_d[1:], in_v[1:], n)
                out = [a | b for a, b in zip(out, got, strict=True)]
        else:
            out = _everything(in_d, shapes, n)
        for o, d in zip(outs, out, strict=True):
            write(o, d if _inexact(o.aval) else np.zeros_like(d))
    return [read(v)[0] for v in jaxpr.outvars]


def _inner(params) -> jcore.ClosedJaxpr | None:
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        inner = params.get(key)
        if isinstance(inner, jcore.ClosedJaxpr):
            return inner
        if isinstance(inner, jcore.Jaxpr):
            return jcore.ClosedJaxpr(inner, ())
    return None


def _everything(in_d, shapes, n) -> list[np.ndarray]:
    """The conservative answer: every output element depends on every input dependency."""
    union = np.zeros(n, bool)
    for d in in_d:
        union |= d.reshape(-1, n).any(axis=0)
    return [np.broadcast_to(union, (*s, n)).copy() for s in shapes]


def _indicator(eqn, in_d, in_v, n) -> list[np.ndarray]:
    """A data-movement primitive applied to the 0/1 indicator of each dependency (the array
    operands; index operands are known), one dependency at a time under vmap."""
    arrays = [i for i, v in enumerate(eqn.invars) if _inexact(v.aval)]

    def apply(*xs):
        args = list(in_v)
        for i, x in zip(arrays, xs, strict=True):
            args[i] = x
        return eqn.primitive.bind(*args, **eqn.params)

    with jax.ensure_compile_time_eval():
        xs = [jnp.asarray(np.moveaxis(in_d[i], -1, 0), eqn.invars[i].aval.dtype) for i in arrays]
        result = jax.vmap(apply)(*xs)
    result = result if eqn.primitive.multiple_results else [result]
    return [np.moveaxis(np.asarray(r) != 0, 0, -1) for r in result]


def jacobian_sparsity(
    f: Callable[..., jax.Array], args: Sequence[jax.ShapeDtypeStruct], wrt: Sequence[int]
) -> np.ndarray:
    """The structural non-zeros of ``d f / d x``, where ``x`` are the scalar arguments of
    ``f`` at positions ``wrt`` and ``f`` returns a 1-d array: a boolean ``(len(f), len(wrt))``
    matrix that is True wherever an entry can be non-zero at some point.

    ``args`` describe every argument (shapes and dtypes; no values are used).
    """
    closed = jax.make_jaxpr(f)(*args)
    n = len(wrt)
    in_deps = [np.zeros((*a.shape, n), bool) for a in args]
    for k, i in enumerate(wrt):
        if args[i].shape != ():
            raise ValueError("jacobian_sparsity: the arguments in wrt must be scalars.")
        in_deps[i][k] = True
    (out,) = _propagate(closed.jaxpr, closed.consts, in_deps, [_UNKNOWN] * len(args), n)
    if out.ndim != 2:
        raise ValueError("jacobian_sparsity: f must return a 1-d array.")
    return out


def colour_columns(pattern: np.ndarray) -> np.ndarray:
    """A colour per column of a boolean sparsity ``pattern`` such that no two columns of one
    colour have a non-zero in the same row (greedy, columns with the most non-zeros first).
    The colours are ``0 .. n_colours - 1``."""
    n = pattern.shape[1]
    colour = np.full(n, -1)
    for j in sorted(range(n), key=lambda j: -int(pattern[:, j].sum())):
        rows = pattern[:, j]
        taken = {
            int(colour[k]) for k in range(n) if colour[k] >= 0 and (pattern[:, k] & rows).any()
        }
        colour[j] = next(c for c in range(n) if c not in taken)
    return colour
