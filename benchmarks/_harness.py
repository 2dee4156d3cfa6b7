"""Shared benchmark harness: the Aliev-Panfilov plane-wave problem, a hand-written baseline of
the same scheme, median timing after warm-up, and JSON-line output.

The problem: Aliev-Panfilov (default parameters) on an ``n x n`` cell-centred grid of spacing
``SPACING``, scalar diffusivity ``DIFFUSIVITY``, no mask, no-flux edges, no stimulus; the
initial state is a plane-wave front, ``u = 1`` on the first ``n // 16`` columns, ``v = 0``.
With ``DT = 0.05`` the explicit diffusion step is inside its stability limit
``h^2 / (4 D) = 0.0625``, so msim takes exactly one diffusion step per time step (no
sub-stepping) and the baseline below is the same arithmetic.
"""

import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

import msim

SPACING = 0.5
DIFFUSIVITY = 1.0
DT = 0.05
THRESHOLD = 0.5  # AlievPanfilov.activation_threshold


def device_kind() -> str:
    return jax.devices()[0].device_kind


def initial_state(n: int, dtype=jnp.float32) -> jax.Array:
    """``(2, n, n)``: a plane-wave front on the left edge (``u = 1``), ``v = 0`` everywhere."""
    u = jnp.zeros((n, n), dtype).at[:, : max(1, n // 16)].set(1.0)
    return jnp.stack([u, jnp.zeros_like(u)])


def cell_parameters(dtype=jnp.float32) -> dict[str, jax.Array]:
    """The default Aliev-Panfilov parameters as arrays of ``dtype``."""
    cell = msim.cells.AlievPanfilov()
    return {
        name: jnp.asarray(getattr(cell, name), dtype) for name in ("k", "a", "eps0", "mu1", "mu2")
    }


def problem(
    n: int, params: dict[str, jax.Array], diffusivity: jax.Array | float, dtype=jnp.float32
) -> msim.Monodomain:
    grid = msim.Grid((n, n), spacing=SPACING)
    cell = msim.cells.AlievPanfilov(**params)
    return msim.Monodomain(
        cell, grid, jnp.asarray(diffusivity, dtype), initial_state=initial_state(n, dtype)
    )


def baseline_step(params, diffusivity, dt: float, h: float = SPACING):
    """One Godunov step written by hand on the state as a tuple ``(u, v)``: forward Euler
    reaction, then one explicit step of the 5-point Laplacian with edge padding (mirror ghost
    cells, i.e. no flux). The tuple carry is what a JAX user would write by hand: no stacked
    ``(2, n, n)`` array is rebuilt between steps."""
    k, a, eps0, mu1, mu2 = (params[name] for name in ("k", "a", "eps0", "mu1", "mu2"))

    def step(y):
        u, v = y
        du = -k * u * (u - a) * (u - 1.0) - u * v
        dv = (eps0 + mu1 * v / (u + mu2)) * (-v - k * u * (u - a - 1.0))
        u = u + dt * du
        v = v + dt * dv
        up = jnp.pad(u, 1, mode="edge")
        lap = (up[:-2, 1:-1] + up[2:, 1:-1] - 2.0 * u) * (1.0 / h**2) + (
            up[1:-1, :-2] + up[1:-1, 2:] - 2.0 * u
        ) * (1.0 / h**2)
        return (u + dt * (diffusivity * lap), v)

    return step


def baseline_run(y0, params, diffusivity, dt: float, steps: int, track_activation: bool = False):
    """``steps`` baseline steps in one ``lax.scan`` from the stacked ``y0``, returning
    ``(final state stacked, activation times)``. With ``track_activation`` the carry also holds
    the first upward crossing of ``THRESHOLD`` per cell, linearly interpolated, as msim
    computes it; without, the activation times are None."""
    step = baseline_step(params, diffusivity, dt)
    carry0 = (y0[0], y0[1])
    if not track_activation:

        def body(y, _):
            return step(y), None

        y, _ = jax.lax.scan(body, carry0, None, length=steps)
        return jnp.stack(y), None

    def body_tracked(carry, _):
        y, t_act, i = carry
        y_new = step(y)
        u_old, u_new = y[0], y_new[0]
        crossed = jnp.isnan(t_act) & (u_old < THRESHOLD) & (u_new >= THRESHOLD)
        rise = jnp.where(crossed, u_new - u_old, 1.0)
        t = i.astype(u_old.dtype) * dt
        t_act = jnp.where(crossed, t + dt * (THRESHOLD - u_old) / rise, t_act)
        return (y_new, t_act, i + 1), None

    t_act0 = jnp.full(y0.shape[1:], jnp.nan, y0.dtype)
    carry = (carry0, t_act0, jnp.zeros((), jnp.int32))
    (y, t_act, _), _ = jax.lax.scan(body_tracked, carry, None, length=steps)
    return jnp.stack(y), t_act


def median_seconds(
    functions: dict[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, float]:
    """Median wall time of each zero-argument function, interleaved round-robin so that load
    from other processes on a shared machine hits all of them alike. Each is called ``warmup``
    times first (compilation) and every call is timed up to ``block_until_ready``."""
    for f in functions.values():
        for _ in range(warmup):
            jax.block_until_ready(f())
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, f in functions.items():
            start = time.perf_counter()
            jax.block_until_ready(f())
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def emit(record: dict) -> None:
    """One JSON line on stdout, flushed (drivers read it line by line)."""
    print(json.dumps(record), flush=True)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_ints(values: Sequence[str]) -> list[int]:
    return [int(v) for v in values]
