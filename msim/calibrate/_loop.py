"""The calibration loop: optax updates of the selected parameters, one compiled step per
iteration, progress, checkpoints to resume from, and several starts at once."""

import dataclasses
import json
import os
import pathlib
from collections.abc import Callable
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._atomic import atomic_write
from .._fingerprint import digest, leaf_digests
from .._progress import tqdm
from .._types import Array
from ..solve import AbstractGradient, AutoMode, ForwardMode, SimulationError
from ._gradients import scalar_loss, value_and_grad
from ._parameters import Selection

_HISTORY_MAX_SIZE = 16  # parameters with at most this many entries are kept in the history
_FORMAT = "msim.calibrate checkpoint"
_VERSION = 2  # 2: a fingerprint of what determines the result (version 1 is refused)


class CheckpointError(ValueError):
    """A calibration checkpoint cannot be resumed from: it belongs to a different calibration
    (the message names what differs), or it is damaged or not a checkpoint. Start afresh with
    ``calibrate(..., resume=False)`` (``msim calibrate --restart``) or use another path."""


class CalibrationError(SimulationError):
    """The loss or its gradient became NaN or infinite, or the simulation failed, during
    `calibrate`. A `msim.SimulationError`: ``except msim.SimulationError`` catches it too.

    Attributes:
        iteration: the iteration (0-based) at which it happened.
        parameters: the physical values at which it happened (start 0 when several).
        last_good: the physical values of the last iteration with a finite loss and
            gradient (the start values if it was the first), a dict from path to array.
    """

    def __init__(self, message: str, iteration: int, parameters: dict, last_good: dict):
        super().__init__(message)
        self.iteration = iteration
        self.parameters = parameters
        self.last_good = last_good


@final
@dataclasses.dataclass(frozen=True)
class CalibrationResult:
    """What `calibrate` returns.

    Attributes:
        best: physical values at the lowest loss seen, a dict from path to array.
        best_theta: the unconstrained values there.
        best_loss: that loss (penalty included).
        best_iteration: the iteration at which it was seen.
        final: physical values after the last update (what the optimiser would continue from).
        final_theta: the unconstrained values there.
        problem: the problem with the ``best`` values put in.
        history: per iteration: ``"loss"``, ``"grad_norm"`` (Euclidean norm of the gradient
            with respect to the unconstrained values) and, for each parameter with at most 16
            entries, its physical value under its path; NumPy arrays with the iteration first.
        iterations: the number of iterations run in total (resumed ones included).
        stop_reason: ``"max_iterations"``, ``"converged"`` (the ``tol`` test) or
            ``"callback"``.
        starts: with ``multistart``, the result of every start (this result is the best of
            them); empty otherwise.
        start_index: which start this is.
        failed: whether this start stopped on a NaN (only with ``multistart``: a single start
            raises `CalibrationError` instead).
    """

    best: dict[str, np.ndarray]
    best_theta: dict[str, np.ndarray]
    best_loss: float
    best_iteration: int
    final: dict[str, np.ndarray]
    final_theta: dict[str, np.ndarray]
    problem: Any
    history: dict[str, np.ndarray]
    iterations: int
    stop_reason: str
    starts: tuple["CalibrationResult", ...] = ()
    start_index: int = 0
    failed: bool = False

    @property
    def converged(self) -> bool:
        """Whether the loop stopped on the ``tol`` test."""
        return self.stop_reason == "converged"

    def __str__(self) -> str:
        values = ", ".join(f"{k}={_short(v)}" for k, v in self.best.items())
        return (
            f"CalibrationResult(best loss {self.best_loss:.6g} at iteration "
            f"{self.best_iteration} of {self.iterations}, stopped: {self.stop_reason}; "
            f"{values})"
        )


def _short(x) -> str:
    x = np.asarray(x)
    if x.size == 1:
        return f"{float(x.reshape(())):.6g}"
    return f"<field {x.shape}, mean {float(x.mean()):.4g}>"


# --------------------------------------------------------------------------------------------
# Checkpoints: an .npz of named arrays with a JSON header, written atomically, no pickle.


def _atomic_savez(path: pathlib.Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_write(path) as f:
        np.savez(f, **arrays)  # pyright: ignore[reportArgumentType]


def _leaf_specs(tree) -> list[list]:
    return [[list(np.shape(x)), str(np.asarray(x).dtype)] for x in jax.tree.leaves(tree)]


def _identity(selection: Selection, opt_state, theta, n_starts: int, mode) -> dict:
    """The layout a checkpoint must have to be read into this calibration."""
    return {
        "format": _FORMAT,
        "version": _VERSION,
        "parameters": [repr(p) for p in selection.parameters],
        "n_starts": n_starts,
        "gradient": "forward" if isinstance(mode, ForwardMode) else "reverse",
        "theta": _leaf_specs(theta),
        "opt_state_tree": str(jax.tree.structure(opt_state)),
        "opt_state": _leaf_specs(opt_state),
    }


def _fingerprint(selection: Selection, loss, optimizer, theta0) -> dict:
    """Digests of everything that determines the result (see `_fingerprint`): the problem's
    arrays (one digest per array, so a mismatch can name them), the loss with the data it
    reads, the optimiser with its settings, and the starting values."""
    return {
        "problem": leaf_digests(selection.problem),
        "loss": digest(loss),
        "optimizer": digest(optimizer),
        "starts": digest(theta0),
    }


_WHAT = {
    "parameters": "the selected parameters or their transforms",
    "n_starts": "the number of starts",
    "gradient": "the gradient mode",
    "theta": "the shapes or dtypes of the fitted values",
    "opt_state_tree": "the optimiser",
    "opt_state": "the optimiser's state",
    "loss": "the loss function or the data it reads",
    "optimizer": "the optimiser or its settings",
    "starts": "the start values (multistart, key)",
}


def _differences(header: dict, identity: dict, fingerprint: dict) -> list[str]:
    """What differs between a checkpoint's header and this calibration, in words."""
    out: list[str] = [_WHAT.get(k, str(k)) for k in identity if header.get(k) != identity[k]]
    theirs = header.get("fingerprint")
    if not isinstance(theirs, dict):
        return [*out, "its fingerprint (it was written by an older msim)"]
    ours_problem, their_problem = fingerprint["problem"], theirs.get("problem")
    if not isinstance(their_problem, dict):
        their_problem = {}
    paths = sorted(
        k
        for k in ours_problem.keys() | their_problem.keys()
        if ours_problem.get(k) != their_problem.get(k)
    )
    if paths:
        names = ", ".join(
            "its static structure (grid, mask, model)" if k == "." else k for k in paths[:6]
        )
        more = f" and {len(paths) - 6} more" if len(paths) > 6 else ""
        out.append(f"the problem's values ({names}{more})")
    out += [_WHAT[k] for k in ("loss", "optimizer", "starts") if theirs.get(k) != fingerprint[k]]
    return list(dict.fromkeys(out))


@dataclasses.dataclass
class _State:
    """The loop's state on the host side, batched over starts."""

    theta: Any
    opt_state: Any
    count: int
    history: dict[str, list[np.ndarray]]
    best_loss: np.ndarray
    best_iteration: np.ndarray
    best_theta: Any
    failed: np.ndarray
    stop_reason: str | None = None


def _write_checkpoint(path: pathlib.Path, identity: dict, fingerprint: dict, state: _State):
    arrays: dict[str, np.ndarray] = {}
    for i, x in enumerate(jax.tree.leaves(state.theta)):
        arrays[f"theta_{i}"] = np.asarray(x)
    for i, x in enumerate(jax.tree.leaves(state.opt_state)):
        arrays[f"opt_{i}"] = np.asarray(x)
    for i, x in enumerate(jax.tree.leaves(state.best_theta)):
        arrays[f"best_theta_{i}"] = np.asarray(x)
    names = list(state.history)
    for j, name in enumerate(names):
        arrays[f"history_{j}"] = np.asarray(state.history[name])
    arrays["best_loss"] = state.best_loss
    arrays["best_iteration"] = state.best_iteration
    arrays["failed"] = state.failed
    header = {
        **identity,
        "fingerprint": fingerprint,
        "count": state.count,
        "history": names,
        "stop": state.stop_reason,
    }
    arrays["header"] = np.asarray(json.dumps(header))
    _atomic_savez(path, arrays)


_AFRESH = (
    "Pass resume=False (msim calibrate --restart) to start afresh and overwrite it, or "
    "another checkpoint path."
)


def _read_checkpoint(
    path: pathlib.Path, identity: dict, fingerprint: dict, template: _State
) -> _State:
    """The loop state in ``path``, checked: it must belong to this calibration (layout and
    fingerprint) and be whole and consistent; a `CheckpointError` says what is wrong."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except Exception as e:  # a damaged zip: BadZipFile, EOFError, zlib.error, a bad CRC...
        raise CheckpointError(
            f"The checkpoint {path} is damaged or not an .npz file ({type(e).__name__}: {e}). "
            + _AFRESH
        ) from None
    try:
        header = json.loads(str(arrays["header"]))
        assert isinstance(header, dict) and header.get("format") == _FORMAT
    except (KeyError, ValueError, AssertionError):
        raise CheckpointError(f"{path} is not an msim.calibrate checkpoint. " + _AFRESH) from None
    differences = _differences(header, identity, fingerprint)
    if differences:
        raise CheckpointError(
            f"The checkpoint {path} belongs to a different calibration: it differs in "
            f"{'; '.join(differences)}. " + _AFRESH
        )
    try:
        return _checked_state(arrays, header, template)
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"The checkpoint {path} is damaged: {e}. " + _AFRESH) from None


def _checked_state(arrays: dict[str, np.ndarray], header: dict, template: _State) -> _State:
    """The state in a checkpoint's arrays, every array checked against the template."""
    n_starts = len(template.best_loss)

    def get(name: str, shape: tuple, dtype) -> np.ndarray:
        if name not in arrays:
            raise KeyError(f"array {name!r} is missing")
        x = arrays[name]
        if x.shape != tuple(shape) or x.dtype != np.dtype(dtype):
            raise ValueError(
                f"array {name!r} is {x.dtype}{list(x.shape)}, expected "
                f"{np.dtype(dtype)}{list(shape)}"
            )
        return x

    def leaves(prefix: str, like) -> Any:
        flat, treedef = jax.tree.flatten(like)
        restored = [
            get(f"{prefix}_{i}", np.shape(x), np.asarray(x).dtype) for i, x in enumerate(flat)
        ]
        return jax.tree.unflatten(treedef, restored)

    count = header.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError(f"its iteration count {count!r} is not a non-negative integer")
    names = header.get("history")
    expected_names = list(template.history)
    if names != expected_names:
        raise ValueError(f"its history holds {names!r}, expected {expected_names!r}")
    history = {}
    for j, name in enumerate(expected_names):
        x = arrays.get(f"history_{j}")
        if x is None:
            raise KeyError(f"array 'history_{j}' is missing")
        if (x.shape[:2] != (count, n_starts)) if count else x.size:
            raise ValueError(
                f"its history of {name!r} has shape {x.shape}, but the checkpoint says {count} "
                f"iterations of {n_starts} start(s) were run"
            )
        history[name] = list(x)
    best_loss = get("best_loss", (n_starts,), np.float64) if count else template.best_loss
    best_iteration = get("best_iteration", (n_starts,), np.int64)
    failed = get("failed", (n_starts,), np.bool_)
    if np.isnan(best_loss).any():
        raise ValueError("its best loss is NaN")
    seen = np.isfinite(best_loss)
    if ((best_iteration < 0) | (best_iteration >= max(count, 1)))[seen].any():
        raise ValueError(f"its best iteration {best_iteration} is outside 0..{count - 1}")
    if count:
        losses = np.asarray(history["loss"])
        at_best = losses[best_iteration[seen], np.flatnonzero(seen)]
        if not np.array_equal(at_best, best_loss[seen]):
            raise ValueError("its best loss is not the loss of its history at the best iteration")
    theta = leaves("theta", template.theta)
    if not all(np.isfinite(x).all() for x in jax.tree.leaves(theta)):
        raise ValueError("its current parameter values are not finite")
    stop = header.get("stop")
    if stop not in (None, "max_iterations", "converged", "callback"):
        raise ValueError(f"its stop reason {stop!r} is unknown")
    return _State(
        theta=jax.tree.map(jnp.asarray, theta),
        opt_state=jax.tree.map(jnp.asarray, leaves("opt", template.opt_state)),
        count=count,
        history=history,
        best_loss=best_loss,
        best_iteration=best_iteration,
        best_theta=leaves("best_theta", template.best_theta),
        failed=failed,
        # A converged run stays converged; one stopped by max_iterations or a callback
        # goes on when resumed with more iterations.
        stop_reason="converged" if stop == "converged" else None,
    )


# --------------------------------------------------------------------------------------------
# The loop


def _batched_starts(selection: Selection, multistart, key) -> tuple[dict[str, Array], bool]:
    """Initial thetas stacked on a leading axis, and whether this is a multi-start run."""
    if multistart is None:
        return {k: v[None] for k, v in selection.initial().items()}, False
    if isinstance(multistart, int | np.integer) and not isinstance(multistart, bool):
        key = jax.random.key(0) if key is None else key
        return selection.starts(int(multistart), key), True
    if not isinstance(multistart, dict) or set(multistart) != set(selection.paths):
        raise ValueError(
            "multistart must be an int (the number of starts) or a dict from each selected "
            f"path {list(selection.paths)} to its start values stacked on a leading axis."
        )
    initial = selection.initial()
    batch = {}
    sizes = set()
    for path, t in initial.items():
        x = jnp.asarray(multistart[path], t.dtype)
        if x.shape[1:] != t.shape:
            raise ValueError(
                f"multistart[{path!r}] has shape {x.shape}; expected (n_starts, *{t.shape})."
            )
        sizes.add(x.shape[0])
        batch[path] = jnp.array(x, dtype=t.dtype)
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(f"multistart arrays must all have the same positive length, got {sizes}.")
    bad = [p for p, x in batch.items() if not np.isfinite(np.asarray(x)).all()]
    if bad:
        raise ValueError(f"multistart start values are not finite for {bad}.")
    return batch, True


def calibrate(
    loss: Callable[[Any], Array],
    selection: Selection,
    *,
    optimizer: optax.GradientTransformationExtraArgs | optax.GradientTransformation | None = None,
    max_iterations: int = 200,
    tol: float | None = None,
    patience: int = 10,
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 10,
    resume: bool = True,
    gradient: AbstractGradient = AutoMode(),
    multistart: int | dict[str, Array] | None = None,
    key: Array | None = None,
    callback: Callable[[int, np.ndarray, dict[str, np.ndarray]], bool | None] | None = None,
) -> CalibrationResult:
    """Fit the selected parameters of a problem by gradient descent on ``loss``.

    Each iteration evaluates ``loss(problem) + selection.penalty(theta)`` at the current
    unconstrained values ``theta``, its gradient (`value_and_grad`, mode ``gradient``) and one
    optax update, in one compiled call that is traced once per `calibrate` call: a new
    iteration never recompiles. The problem's other arrays are constants of that program.

    Args:
        loss: ``loss(problem) -> scalar``, typically `msim.simulate` followed by a comparison
            with data (see `trace_loss`, `activation_loss`). Inside it, pass
            ``throw=False`` to `msim.simulate` with ``multistart`` so that one diverging
            start does not stop the others. When a diffusivity is fitted, its value is traced,
            so `msim.simulate` cannot choose the diffusion sub-steps: pass
            ``diffusion=msim.ExplicitDiffusion(substeps=n)`` with ``n`` large enough for the
            largest diffusivity the fit may visit.
        selection: what to fit (`Selection`); its problem's values are the start.
        optimizer: an optax optimiser, default ``optax.adam(1e-2)`` (steps of about 0.01 in
            unconstrained units: 1% relative steps for `Log` parameters). ``optax.lbfgs()``
            works too (its line search calls the loss again inside the step).
        max_iterations: total iterations, resumed ones included.
        tol: stop when the loss changed by at most ``tol`` relatively over the last
            ``patience`` iterations (every start, with ``multistart``). None: never.
        patience: see ``tol``.
        progress: show a progress bar with the loss and the gradient norm.
        checkpoint: a file (``.npz``) to write the loop state to every ``checkpoint_every``
            iterations and at the end, atomically (an interruption leaves the previous one).
        checkpoint_every: see ``checkpoint``.
        resume: if ``checkpoint`` exists, continue from it: the result is the same as an
            uninterrupted run's. The checkpoint must belong to this calibration: the same
            selected parameters and transforms, starts, gradient mode and optimiser, and the
            same fingerprint (digests of the problem's arrays and static structure, of the loss
            with the data and settings it reads, of the optimiser's settings and of the start
            values; see `msim._fingerprint`); otherwise, or if the file is damaged,
            `CheckpointError` says what differs. With False an existing file is overwritten.
            ``max_iterations``, ``tol`` and ``patience`` may change on resume.
        gradient: `msim.AutoMode` (default), `msim.ForwardMode` or `msim.ReverseMode` (see
            `value_and_grad`).
        multistart: an int ``N`` (starts spread around the selection's values by
            `Selection.starts`, from ``key``), or a dict from path to start values stacked on a
            leading axis. All starts run in one vmapped compiled call per iteration; a start
            whose loss becomes NaN is frozen and marked failed instead of stopping the rest.
        key: PRNG key for ``multistart=N`` (default ``jax.random.key(0)``).
        callback: called after each iteration (and its checkpoint) with the iteration, the
            loss (one per start) and the physical values of the small parameters; return True
            to stop.

    Returns:
        A `CalibrationResult`.

    Raises:
        CheckpointError: ``checkpoint`` belongs to another calibration or is damaged (with
            ``resume=True``).
        CalibrationError: the loss or gradient became NaN (a single start, or all starts), or
            the simulation stopped with an error at run time; it names the iteration and
            carries the last good parameters.
    """
    if not isinstance(selection, Selection):
        raise TypeError(
            f"selection must be an msim.calibrate.Selection, got {type(selection).__name__}."
        )
    max_iterations, patience, checkpoint_every = (
        int(max_iterations),
        int(patience),
        int(checkpoint_every),
    )
    if max_iterations < 1 or patience < 1 or checkpoint_every < 1:
        raise ValueError("max_iterations, patience and checkpoint_every must be positive.")
    if tol is not None and not tol >= 0:
        raise ValueError(f"tol must be non-negative, got {tol}.")
    optimizer = optax.adam(1e-2) if optimizer is None else optimizer
    # Extra arguments (value, grad, value_fn: what L-BFGS's line search needs) are dropped
    # by the optimisers that do not use them.
    optimizer = optax.with_extra_args_support(optimizer)
    theta0, multi = _batched_starts(selection, multistart, key)
    n_starts = len(next(iter(jax.tree.leaves(theta0))))
    if not isinstance(gradient, AbstractGradient):
        raise TypeError(
            "gradient must be msim.AutoMode(), msim.ReverseMode() or msim.ForwardMode(), got "
            f"{gradient!r}."
        )
    mode = gradient.resolve(jax.tree.map(lambda x: x[0], theta0))
    problem = selection.problem
    small = [p for p in selection.paths if np.size(selection.values()[p]) <= _HISTORY_MAX_SIZE]
    checked = scalar_loss(loss)

    def objective(theta):
        return checked(selection.apply(problem, theta)) + selection.penalty(theta)

    def one(theta, opt_state):
        value, grad = value_and_grad(objective, theta, mode)
        # optax mixes Python floats with its int32 step count: allow that promotion there
        # even when the user asked for strict promotion (msim's tests do).
        with jax.numpy_dtype_promotion("standard"):
            updates, new_state = optimizer.update(
                grad, opt_state, theta, value=value, grad=grad, value_fn=objective
            )
            new_theta = optax.apply_updates(theta, updates)
        # Keep every leaf's dtype: a float32 parameter under x64 would otherwise come back
        # float64 from the update (optax's float64 hyperparameters), and the next iteration
        # would be a different program.
        new_theta = _same_dtypes(new_theta, theta)
        new_state = _same_dtypes(new_state, opt_state)
        norm = jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree.leaves(grad)))
        ok = jnp.isfinite(value) & jnp.isfinite(norm)
        # A start that went bad stays where it was (and keeps failing): the others go on.
        new_theta = jax.tree.map(lambda a, b: jnp.where(ok, a, b), new_theta, theta)
        new_state = jax.tree.map(lambda a, b: jnp.where(ok, a, b), new_state, opt_state)
        physical = selection.physical(theta)
        return new_theta, new_state, value, norm, {p: physical[p] for p in small}

    def batched(theta, opt_state):
        return jax.vmap(one)(theta, opt_state)

    # One compiled step serves every iteration: a second trace (say, a dtype that changes
    # after the first update) would be a bug, and fails loudly here and in the tests.
    step = eqx.filter_jit(eqx.debug.assert_max_traces(batched, max_traces=1))

    with jax.numpy_dtype_promotion("standard"):
        opt0 = jax.vmap(optimizer.init)(theta0)
    # Optimisers initialise some of their state from Python numbers (weakly typed); after one
    # update it is strongly typed. Strong types from the start keep one compiled step.
    opt0 = jax.tree.map(lambda x: jnp.array(x, dtype=x.dtype) if eqx.is_array(x) else x, opt0)
    state = _State(
        theta=theta0,
        opt_state=opt0,
        count=0,
        history={name: [] for name in ("loss", "grad_norm", *small)},
        best_loss=np.full(n_starts, np.inf),
        best_iteration=np.zeros(n_starts, np.int64),
        best_theta=jax.tree.map(np.asarray, theta0),
        failed=np.zeros(n_starts, bool),
    )
    path = None if checkpoint is None else pathlib.Path(checkpoint)
    identity = _identity(selection, opt0, theta0, n_starts, mode)
    fingerprint = {} if path is None else _fingerprint(selection, loss, optimizer, theta0)
    if path is not None and resume and path.exists():
        state = _read_checkpoint(path, identity, fingerprint, state)

    bar = tqdm(total=max_iterations, initial=state.count, disable=not progress, desc="calibrate")
    last_good = state.theta
    try:
        while state.count < max_iterations and state.stop_reason is None:
            i = state.count
            try:
                new_theta, new_opt, value, norm, physical = step(state.theta, state.opt_state)
                value, norm = np.asarray(value), np.asarray(norm)
            except (eqx.EquinoxRuntimeError, jax.errors.JaxRuntimeError) as e:
                reason = _runtime_message(e)
                raise _error(selection, i, state.theta, last_good, reason) from e
            bad = ~(np.isfinite(value) & np.isfinite(norm))
            newly = bad & ~state.failed
            if newly.any() and (not multi or (bad | state.failed).all()):
                what = "loss" if not np.isfinite(value[newly]).all() else "gradient"
                raise _error(selection, i, state.theta, last_good, f"the {what} is not finite")
            state.failed = state.failed | bad
            if not bad.all():
                last_good = state.theta
            improved = (value < state.best_loss) & ~bad
            if improved.any():
                state.best_theta = _where_starts(
                    improved, jax.tree.map(np.asarray, state.theta), state.best_theta
                )
                state.best_loss = np.where(improved, value, state.best_loss)
                state.best_iteration = np.where(improved, i, state.best_iteration)
            state.history["loss"].append(value)
            state.history["grad_norm"].append(norm)
            for p in small:
                state.history[p].append(np.asarray(physical[p]))
            state.theta, state.opt_state, state.count = new_theta, new_opt, i + 1
            bar.update(1)
            ok = ~state.failed
            bar.set_postfix_str(
                f"loss={np.min(value[ok]):.6g} |grad|={np.max(norm[ok]):.3g}"
                + (f" starts={int(ok.sum())}/{n_starts}" if multi else "")
            )
            if tol is not None and state.count > patience:
                losses = np.asarray(state.history["loss"])
                now, then = losses[-1], losses[-1 - patience]
                quiet = np.abs(now - then) <= tol * np.abs(then)
                if np.all(quiet | state.failed):
                    state.stop_reason = "converged"
            if state.count >= max_iterations and state.stop_reason is None:
                state.stop_reason = "max_iterations"
            if path is not None and (
                state.count % checkpoint_every == 0 or state.stop_reason is not None
            ):
                _write_checkpoint(path, identity, fingerprint, state)
            if callback is not None:
                shown = {
                    p: np.asarray(physical[p]) if multi else np.asarray(physical[p][0])
                    for p in small
                }
                if callback(i, value if multi else value[0], shown):
                    state.stop_reason = "callback"
                    if path is not None:
                        _write_checkpoint(path, identity, fingerprint, state)
    finally:
        bar.close()
    if state.stop_reason is None:  # resumed from a checkpoint that had already finished
        state.stop_reason = "max_iterations"
    return _results(selection, state, multi)


def _same_dtypes(new, old):
    return jax.tree.map(
        lambda a, b: a.astype(b.dtype) if eqx.is_array(a) and eqx.is_array(b) else a, new, old
    )


def _where_starts(which: np.ndarray, a, b):
    """Per start (leading axis): ``a`` where ``which``, else ``b``."""
    return jax.tree.map(lambda x, y: np.where(which.reshape(-1, *[1] * (x.ndim - 1)), x, y), a, b)


def _physical_np(selection: Selection, theta) -> dict[str, np.ndarray]:
    values = selection.physical({k: jnp.asarray(v) for k, v in theta.items()})
    return {k: np.asarray(v) for k, v in values.items()}


def _runtime_message(e: Exception) -> str:
    """The message of an error raised inside the compiled step, without the stack traces
    that equinox and XLA put around it."""
    text = str(e)
    marker = "EquinoxRuntimeError: "
    if marker in text:
        text = text.rsplit(marker, 1)[1]
    return text.split("\n\n-----")[0].strip().rstrip(".")


def _error(selection: Selection, i: int, theta, last_good, reason: str) -> CalibrationError:
    at = _physical_np(selection, jax.tree.map(lambda x: x[0], theta))
    good = _physical_np(selection, jax.tree.map(lambda x: x[0], last_good))
    message = (
        f"calibrate stopped at iteration {i}: {reason}. Parameters there: "
        f"{_format(at)}. Last parameters with a finite loss and gradient: {_format(good)}. "
        "Try a smaller learning rate, bounds or a Log transform on the parameters, or a prior."
    )
    return CalibrationError(message, i, at, good)


def _format(values: dict[str, np.ndarray]) -> str:
    return "{" + ", ".join(f"{k!r}: {_short(v)}" for k, v in values.items()) + "}"


def _results(selection: Selection, state: _State, multi: bool) -> CalibrationResult:
    history = {k: np.asarray(v) for k, v in state.history.items()}
    n_starts = len(state.best_loss)
    if state.count == 0 or not history:
        raise ValueError("calibrate ran no iteration.")
    per_start = []
    for b in range(n_starts):
        best_theta = {k: np.asarray(v[b]) for k, v in state.best_theta.items()}
        final_theta = {k: np.asarray(v[b]) for k, v in state.theta.items()}
        best = _physical_np(selection, best_theta)
        per_start.append(
            CalibrationResult(
                best=best,
                best_theta=best_theta,
                best_loss=float(state.best_loss[b]),
                best_iteration=int(state.best_iteration[b]),
                final=_physical_np(selection, final_theta),
                final_theta=final_theta,
                problem=selection.apply(
                    selection.problem, {k: jnp.asarray(v) for k, v in best_theta.items()}
                ),
                history={k: v[:, b] for k, v in history.items()},
                iterations=state.count,
                stop_reason=str(state.stop_reason),
                start_index=b,
                failed=bool(state.failed[b]),
            )
        )
    if not multi:
        return per_start[0]
    losses = np.where(np.isfinite(state.best_loss), state.best_loss, np.inf)
    best = per_start[int(np.argmin(losses))]
    return dataclasses.replace(best, starts=tuple(per_start))
