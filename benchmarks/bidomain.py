"""Cost of a bidomain step against a monodomain step on the same sheet.

The harness problem (Aliev-Panfilov plane wave on an ``n x n`` grid, spacing 0.5, no-flux
edges, ``DT = 0.05``, one explicit diffusion step per time step): the monodomain with
``D = 1``; the bidomain with ``D_i = 1`` and ``D_e = 2`` (isotropic: conjugate gradients), and
with fibres along x of unequal anisotropy ratios (``D_i`` 1 / 0.25, ``D_e`` 2 / 1: BiCGStab).
One JSON line per case: median seconds per step after a warm-up (compilation), the ratio to
the monodomain measured in the same run, and the elliptic solver's iterations per solve.

Run:  python benchmarks/bidomain.py [--sizes 64 128] [--steps 200] [--repeats 5] [--x64]
"""

import argparse

import _harness as h
import jax


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", default=["64", "128"])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--x64", action="store_true")
    args = parser.parse_args()
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    import msim
    from msim.tissue import Fibres

    dtype = jnp.float64 if args.x64 else jnp.float32
    t_end = args.steps * h.DT
    for n in h.parse_ints(args.sizes):
        params = h.cell_parameters(dtype)
        mono = h.problem(n, params, 1.0, dtype)
        grid, cell, y0 = mono.grid, mono.cell, mono.initial_state
        x = jnp.asarray([1.0, 0.0], dtype)
        problems = {
            "monodomain": mono,
            "bidomain isotropic (CG)": msim.Bidomain(
                cell, grid, jnp.asarray(1.0, dtype), jnp.asarray(2.0, dtype), initial_state=y0
            ),
            "bidomain fibres, unequal ratios (BiCGStab)": msim.Bidomain(
                cell, grid, Fibres(x, 1.0, 0.25), Fibres(x, 2.0, 1.0), initial_state=y0
            ),
        }
        save = msim.Save(activation=False)

        def run(problem, save=save):
            return lambda: msim.simulate(problem, t_end, h.DT, save).final_state

        seconds = h.median_seconds({k: run(p) for k, p in problems.items()}, args.repeats)
        for name, problem in problems.items():
            record = {
                "benchmark": "bidomain",
                "case": name,
                "n": n,
                "steps": args.steps,
                "dtype": jnp.dtype(dtype).name,
                "device": h.device_kind(),
                "s_per_step": seconds[name] / args.steps,
                "vs_monodomain": seconds[name] / seconds["monodomain"],
            }
            stats = msim.simulate(problem, t_end, h.DT, save).linear_solves
            if stats is not None:
                record["iterations_per_solve"] = int(stats.iterations) / int(stats.solves)
                record["max_iterations"] = int(stats.max_iterations)
            h.emit(record)


if __name__ == "__main__":
    main()
