"""Throughput of every built-in cell model in tissue: cell-steps per second and compile time.

For each model in `msim.cells.available()`: a 2D ``--size`` x ``--size`` monodomain sheet
(spacing 0.5, a small diffusivity so that no diffusion sub-steps occur, one plane-wave
stimulus), ``--steps`` steps with the model's default reaction scheme (Rush-Larsen where it
declares gates), no snapshots and no activation tracking, in float32 and float64. Then
ten Tusscher-Panfilov 2006 on the N-version benchmark's 3D slab (20 x 7 x 3 mm at
``--slab-dx``, fibres along x, `msim.tissue.bidomain_fibres`), float32.

Reported per case (one JSON line): compile seconds (the first call minus a warm call),
median run seconds over ``--repeats``, cell-steps per second, and the state size.

Run from the repository root:  python benchmarks/cells.py [--size 128] [--steps 500]
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
from _harness import device_kind, emit

import msim

# Time steps in each model's own time unit: about the largest its reaction takes comfortably.
DT = {
    "AlievPanfilov": 0.05,
    "FitzHughNagumo": 0.05,
    "MitchellSchaeffer": 0.05,
    "TenTusscherPanfilov2006": 0.02,
    "Nagumo": 0.05,
    "FisherKPP": 0.05,
    "FentonKarma": 0.05,
    "BuenoOrovio": 0.05,
    "Barkley": 0.005,
    "BeelerReuter1977": 0.02,
    "LuoRudy1991": 0.02,
    "CourtemancheRamirezNattel1998": 0.02,
    "OHaraRudy2011": 0.01,
}


def sheet(cell, n: int, dtype) -> msim.Monodomain:
    grid = msim.Grid((n, n), 0.5)
    stim = msim.Stimulus(msim.regions.box((0.0, 0.0), (1.0, n * 0.5)), duration=1.0)
    return msim.Monodomain(cell, grid, jnp.asarray(0.01, dtype), stimulus=stim)


def timed(problem, dt: float, steps: int, repeats: int, reaction=None) -> tuple[float, float]:
    save = msim.Save(snapshots=False, activation=False)

    def call():
        sol = msim.simulate(problem, steps * dt, dt, save=save, reaction=reaction)
        jax.block_until_ready(sol.final_state)

    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    run = statistics.median(times)
    return max(first - run, 0.0), run


def cast(cell, dtype):
    """The cell with every floating parameter in ``dtype``."""
    return jax.tree.map(
        lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, cell
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slab-dx", type=float, default=0.5)
    parser.add_argument("--models", nargs="*", default=None, help="default: all built-in models")
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)  # float64 cases need it; float32 ones cast
    names = args.models or list(msim.cells.available())
    for name in names:
        model = getattr(msim.cells, name)
        dt = DT.get(name, 0.02)
        for dtype in (jnp.float32, jnp.float64):
            cell = cast(model(), dtype)
            problem = sheet(cell, args.size, dtype)
            compile_s, run_s = timed(problem, dt, args.steps, args.repeats)
            cell_steps = args.size**2 * args.steps
            emit(
                {
                    "case": "cell_model_2d",
                    "model": name,
                    "dtype": jnp.dtype(dtype).name,
                    "n": args.size,
                    "steps": args.steps,
                    "dt": dt,
                    "n_states": cell.n_states,
                    "n_gates": len(msim.cells.gate_indices(cell)),
                    "device": device_kind(),
                    "compile_s": compile_s,
                    "run_s": run_s,
                    "cell_steps_per_s": cell_steps / run_s,
                }
            )
    # The implicit reaction step against the default, on the largest model (float64).
    if not args.models or "OHaraRudy2011" in args.models:
        cell = msim.cells.OHaraRudy2011()
        problem = sheet(cell, args.size, jnp.float64)
        for scheme in (msim.RushLarsen(), msim.RosenbrockEuler()):
            compile_s, run_s = timed(problem, 0.01, args.steps, args.repeats, reaction=scheme)
            emit(
                {
                    "case": "reaction_scheme_2d",
                    "model": "OHaraRudy2011",
                    "scheme": type(scheme).__name__,
                    "dtype": "float64",
                    "n": args.size,
                    "steps": args.steps,
                    "dt": 0.01,
                    "device": device_kind(),
                    "compile_s": compile_s,
                    "run_s": run_s,
                    "cell_steps_per_s": args.size**2 * args.steps / run_s,
                }
            )
    # TP06 on the N-version slab.
    dx = args.slab_dx
    shape = tuple(round(length / dx) for length in (20.0, 7.0, 3.0))
    grid = msim.Grid(shape, dx)
    fibres = msim.tissue.bidomain_fibres(
        jnp.asarray([1.0, 0.0, 0.0], jnp.float32), 0.17, 0.019, 0.62, 0.24
    )
    fibres = cast(fibres, jnp.float32)
    stim = msim.Stimulus(
        msim.regions.box((0.0, 0.0, 0.0), (1.5, 1.5, 1.5)), duration=2.0, amplitude=35.7
    )
    cell = cast(msim.cells.TenTusscherPanfilov2006(), jnp.float32)
    problem = msim.Monodomain(cell, grid, fibres, stimulus=stim)
    dt = 0.02
    compile_s, run_s = timed(problem, dt, args.steps, args.repeats)
    emit(
        {
            "case": "tp06_slab_3d",
            "model": "TenTusscherPanfilov2006",
            "dtype": "float32",
            "shape": list(shape),
            "dx_mm": dx,
            "steps": args.steps,
            "dt": dt,
            "device": device_kind(),
            "compile_s": compile_s,
            "run_s": run_s,
            "cell_steps_per_s": grid.size * args.steps / run_s,
        }
    )


if __name__ == "__main__":
    main()
