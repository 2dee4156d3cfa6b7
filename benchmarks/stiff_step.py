"""Cost of one reaction step of stiff models: `RushLarsen` against `RosenbrockEuler` with its
Jacobian from the sparsity pattern (one Jacobian-vector product per column colour, the default)
and with dense columns (one product per implicit state, ``sparse=False``: the version before
the pattern, kept as the baseline), for every non-gate state implicit and, on CiPA, for only
the stiff hERG Markov block implicit.

Models: msim's hand-written O'Hara-Rudy 2011 (`msim.cells.OHaraRudy2011`) and O'Hara-Rudy CiPA
v1 2017 imported from ``../shared/cellml`` (its hERG Markov states are not gates: Rush-Larsen
needs dt <= 0.001 ms there, RosenbrockEuler runs at 0.02 ms, see
validation/cellml_import.md). Grids: one cell and an ``--size`` x ``--size`` sheet, at rest,
float64, dt = 0.02 ms. Each timed call runs ``--steps`` steps (single cell) or ``--tissue-steps``
steps (sheet) in one compiled loop, so call overhead does not swamp a single cell's step; the
median over ``--repeats`` calls after a warm-up, all variants of a case interleaved (the
Rush-Larsen baseline in the same run). One JSON line per variant and case.

Run from the repository root:  python benchmarks/stiff_step.py [--size 64] [--repeats 10]
"""

import argparse
import pathlib

import jax
import jax.numpy as jnp
from _harness import device_kind, emit, median_seconds

import msim
from msim.solve._sparsity import colour_columns

CELLML = pathlib.Path(__file__).parents[2] / "shared" / "cellml"


def variants(cell, name: str) -> dict:
    out = {
        "RushLarsen": msim.RushLarsen(),
        "RosenbrockEuler(dense columns)": msim.RosenbrockEuler(sparse=False),
        "RosenbrockEuler(sparse)": msim.RosenbrockEuler(),
    }
    if name == "ohara_rudy_cipa_v1_2017":
        ikr = tuple(n for n in cell.state_names if n.startswith("IKr."))
        out["RosenbrockEuler(states=IKr Markov, dense columns)"] = msim.RosenbrockEuler(
            states=ikr, sparse=False
        )
        out["RosenbrockEuler(states=IKr Markov, sparse)"] = msim.RosenbrockEuler(states=ikr)
    return out


def loop(cell, scheme, n_steps: int, dt: float):
    """``n_steps`` steps of ``scheme`` from rest, unstimulated, in one compiled loop."""
    zero = jnp.zeros(())

    def body(k, y):
        return scheme.step(cell, k * dt, y, dt, zero)

    return jax.jit(lambda y: jax.lax.fori_loop(0, n_steps, body, y))


def main():
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--steps", type=int, default=200, help="steps per call, single cell")
    parser.add_argument("--tissue-steps", type=int, default=2, help="steps per call, sheet")
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    path = CELLML / "ohara_rudy_cipa_v1_2017.cellml"
    models: dict[str, msim.cells.AbstractCellModel] = {"OHaraRudy2011": msim.cells.OHaraRudy2011()}
    if path.exists():
        models["ohara_rudy_cipa_v1_2017"] = msim.cells.from_cellml(path)
    else:
        print(f"{path} is not available (the curated CellML collection): CiPA skipped")
    dt = 0.02
    for name, cell in models.items():
        schemes = variants(cell, name)
        gates = set(msim.cells.gate_indices(cell))
        for grid in ((), (args.size, args.size)):
            n_steps = args.steps if grid == () else args.tissue_steps
            y = jnp.broadcast_to(
                cell.initial_state().reshape(-1, *(1,) * len(grid)), (cell.n_states, *grid)
            )

            loops = {k: loop(cell, s, n_steps, dt) for k, s in schemes.items()}
            times = median_seconds(
                {k: lambda f=f, y=y: f(y) for k, f in loops.items()}, args.repeats
            )
            for k, seconds in times.items():
                scheme = schemes[k]
                implicit = (
                    0 if isinstance(scheme, msim.RushLarsen) else len(scheme.implicit_states(cell))
                )
                record = {
                    "case": "stiff_reaction_step",
                    "model": name,
                    "scheme": k,
                    "implicit_states": implicit,
                    "grid": list(grid),
                    "dtype": "float64",
                    "device": device_kind(),
                    "step_s": seconds / n_steps,
                    "relative_to_rush_larsen": seconds / times["RushLarsen"],
                }
                if isinstance(scheme, msim.RosenbrockEuler):
                    idx = scheme.implicit_states(cell)
                    pattern = scheme.jacobian_pattern(cell, y, idx)
                    colours = colour_columns(pattern).max() + 1
                    record["jacobian_nonzeros"] = int(pattern.sum())
                    record["jvps_per_step"] = int(colours) if scheme.sparse else len(idx)
                record["gates"] = len(gates)
                emit(record)


if __name__ == "__main__":
    main()
