"""ten Tusscher-Panfilov 2006 on a 2D sheet: `msim.simulate` against a hand-written
Rush-Larsen `lax.scan` of the same model.

The problem: TP06 epicardial cells on an ``n x n`` sheet, spacing 0.25 mm, D = 0.154 mm^2/ms,
no-flux edges, dt = 0.02 ms (inside the explicit diffusion limit h^2/(4D) = 0.101 ms, so one
diffusion step per step), no stimulus: the initial state is the resting state with V = +20 mV
on the first ``n / 16`` columns, a plane wave entering from the left.

The baseline is the loop a JAX user would write around the same model code: a `lax.scan`
whose carry is the tuple of the 19 states, one Rush-Larsen step (the model's ``rhs`` and
``gate_rates``, forward Euler on the non-gates, the exact exponential on the gates), then one
5-point explicit diffusion step of V with edge padding. The model arithmetic is msim's in both,
so the ratio measures msim's engine (its loop, splitting, stimulus handling, activation
tracking) against the bare loop. ``gbps_min`` counts the fewest bytes a step must move (every
state read and written once: 152 B per cell-step in float32) against the time.

Run from the repository root: ``python benchmarks/tp06_sheet.py --sizes 128 256 --steps 500``.
"""

import argparse

import jax
import jax.numpy as jnp
from _harness import device_kind, emit, log, median_seconds

import msim

SPACING = 0.25
DIFFUSIVITY = 0.154
DT = 0.02


def initial_state(cell, n: int, dtype) -> jax.Array:
    rest = cell.initial_state().astype(dtype)
    y = jnp.broadcast_to(rest[:, None, None], (rest.shape[0], n, n))
    return y.at[cell.voltage_index, :, : max(1, n // 16)].set(20.0)


def baseline(cell, y0, steps: int):
    gates = cell.gate_indices
    vi = cell.voltage_index
    zero = jnp.zeros((), y0.dtype)

    def body(states, _):
        y = jnp.stack(states)
        dy = cell.rhs(zero, y, zero)
        g_inf, tau = cell.gate_rates(zero, y)
        out = [s + DT * dy[i] for i, s in enumerate(states)]
        for j, g in enumerate(gates):
            out[g] = g_inf[j] + (states[g] - g_inf[j]) * jnp.exp(-DT / tau[j])
        v = out[vi]
        vp = jnp.pad(v, 1, mode="edge")
        lap = (vp[:-2, 1:-1] + vp[2:, 1:-1] + vp[1:-1, :-2] + vp[1:-1, 2:] - 4.0 * v) / SPACING**2
        out[vi] = v + DT * DIFFUSIVITY * lap
        return tuple(out), None

    states, _ = jax.lax.scan(body, tuple(y0), None, length=steps)
    return jnp.stack(states)


def run_case(n: int, steps: int, repeats: int, dtype) -> dict:
    cell = msim.cells.TenTusscherPanfilov2006(cell_type="epi")
    cell = jax.tree.map(lambda x: jnp.asarray(x, dtype), cell)
    grid = msim.Grid((n, n), spacing=SPACING)
    y0 = initial_state(cell, n, dtype)
    problem = msim.Monodomain(cell, grid, jnp.asarray(DIFFUSIVITY, dtype), initial_state=y0)
    t_end = steps * DT
    on = msim.Save(every=None, snapshots=False)
    off = msim.Save(every=None, snapshots=False, activation=False)
    base = jax.jit(lambda y: baseline(cell, y, steps))
    seconds = median_seconds(
        {
            "msim": lambda: msim.simulate(problem, t_end, DT, on).final_state,
            "msim_no_activation": lambda: msim.simulate(problem, t_end, DT, off).final_state,
            "baseline": lambda: base(y0),
        },
        repeats=repeats,
        warmup=2,
    )
    y_msim = msim.simulate(problem, t_end, DT, off).final_state
    y_base = base(y0)
    rel = jnp.max(jnp.abs(y_msim - y_base) / (jnp.abs(y_base) + 1e-30))
    cell_steps = n * n * steps
    bytes_min = 2 * cell.n_states * jnp.dtype(dtype).itemsize
    return {
        "case": "tp06_sheet",
        "device": device_kind(),
        "n": n,
        "steps": steps,
        "dtype": str(jnp.dtype(dtype)),
        "msim_s": seconds["msim"],
        "msim_no_activation_s": seconds["msim_no_activation"],
        "baseline_s": seconds["baseline"],
        "ratio": seconds["msim"] / seconds["baseline"],
        "ratio_no_activation": seconds["msim_no_activation"] / seconds["baseline"],
        "msim_cell_steps_per_s": cell_steps / seconds["msim"],
        "baseline_cell_steps_per_s": cell_steps / seconds["baseline"],
        "min_bytes_per_cell_step": bytes_min,
        "msim_no_activation_gbps_min": bytes_min * cell_steps / seconds["msim_no_activation"] / 1e9,
        "baseline_gbps_min": bytes_min * cell_steps / seconds["baseline"] / 1e9,
        "max_rel_diff": float(rel),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", choices=["float32", "float64"], nargs="+", default=["float32"])
    args = parser.parse_args()
    if "float64" in args.dtype:
        jax.config.update("jax_enable_x64", True)
    log(f"tp06_sheet: device {device_kind()}, sizes {args.sizes}, {args.steps} steps")
    for dtype in args.dtype:
        for n in args.sizes:
            emit(run_case(n, args.steps, args.repeats, jnp.dtype(dtype)))


if __name__ == "__main__":
    main()
