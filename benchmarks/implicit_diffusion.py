"""Where implicit diffusion wins: `msim.ImplicitDiffusion` (backward Euler, one
Jacobi-preconditioned CG solve per step) against `msim.ExplicitDiffusion` sub-stepped to its
stability limit, on the same problem in the same run.

The problem: a plane wave entering a sheet (2D, ``n x n``) or a block (3D, ``n^3``) of ten
Tusscher-Panfilov 2006 epicardial cells (the gated model's Rush-Larsen step is the reaction)
or of Aliev-Panfilov cells (a reaction of a few operations, where the stencil dominates),
isotropic D = 0.154 mm^2/ms (TP06) or 1.0 (Aliev-Panfilov, model units), no-flux edges, Godunov
splitting, float32. The grid spacing ``dx`` and step ``dt`` set the explicit scheme's sub-steps,
``ceil(dt * 4 D sum(1/dx^2) / 2)``; the implicit scheme takes none at any ``dx``. Each case is
``--steps`` steps of `msim.simulate` (snapshots only at the ends), the median of ``--repeats``
warm calls, explicit and implicit interleaved. ``ratio`` = implicit time / explicit time (below
1: implicit is faster). ``iterations`` = CG iterations per solve (each about one stencil
application plus two dot products). One JSON line per case.

Run from the repository root:  python benchmarks/implicit_diffusion.py [--quick]
"""

import argparse
import math

import jax.numpy as jnp
from _harness import device_kind, emit, log, median_seconds

import msim


def _problem(model: str, shape: tuple[int, ...], dx: float) -> msim.Monodomain:
    grid = msim.Grid(shape, dx)
    if model == "tp06":
        cell, d, v_hi = msim.cells.TenTusscherPanfilov2006(), 0.154, 20.0
    else:
        cell, d, v_hi = msim.cells.AlievPanfilov(), 1.0, 1.0
    y = cell.initial_state().astype(jnp.float32)
    y = jnp.broadcast_to(y.reshape(y.shape + (1,) * len(shape)), y.shape + shape)
    y = y.at[(cell.voltage_index, slice(0, max(1, shape[0] // 16)))].set(v_hi)
    return msim.Monodomain(cell, grid, jnp.float32(d), initial_state=y)


def case(model: str, ndim: int, n: int, dx: float, dt: float, steps: int, repeats: int) -> dict:
    problem = _problem(model, (n,) * ndim, dx)
    t_end = steps * dt
    schemes = {"explicit": msim.ExplicitDiffusion(), "implicit": msim.ImplicitDiffusion()}

    def runner(scheme):
        return lambda: msim.simulate(problem, t_end, dt, diffusion=scheme).final_state

    times = median_seconds({k: runner(s) for k, s in schemes.items()}, repeats)
    sol = msim.simulate(problem, t_end, dt, diffusion=schemes["implicit"])
    stats = sol.linear_solves
    d = float(problem.conductivity.diffusivity)
    substeps = max(1, math.ceil(dt * 4 * d * ndim / dx**2 / 2 * (1 - 1e-9)))
    return {
        "benchmark": "implicit_diffusion",
        "device": device_kind(),
        "model": model,
        "grid": [n] * ndim,
        "dx": dx,
        "dt": dt,
        "steps": steps,
        "explicit_substeps": substeps,
        "explicit_ms_per_step": 1e3 * times["explicit"] / steps,
        "implicit_ms_per_step": 1e3 * times["implicit"] / steps,
        "ratio": times["implicit"] / times["explicit"],
        "iterations": int(stats.iterations) / int(stats.solves),
        "converged": not bool(stats.failed),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small grid and few steps")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    steps = 20 if args.quick else args.steps
    n2, n3 = (32, 12) if args.quick else (128, 40)
    cases = [
        # TP06, 2D: finer dx at dt = 0.05 ms (1, 4, 13 and 50 explicit sub-steps).
        *(("tp06", 2, n2, dx, 0.05) for dx in (0.25, 0.1, 0.05, 0.025)),
        # TP06, larger dt at dx = 0.1 mm.
        ("tp06", 2, n2, 0.1, 0.1),
        # TP06, 3D.
        *(("tp06", 3, n3, dx, 0.05) for dx in (0.2, 0.1)),
        # Aliev-Panfilov, 2D: the stencil dominates the step.
        *(("ap", 2, n2, dx, 0.05) for dx in (0.5, 0.1, 0.05)),
    ]
    log(f"{len(cases)} cases, {steps} steps each, on {device_kind()}")
    for model, ndim, n, dx, dt in cases:
        emit(case(model, ndim, n, dx, dt, steps, args.repeats))


if __name__ == "__main__":
    main()
