"""Cost of one reaction step of a stiff imported model: `RushLarsen` against `RosenbrockEuler`
with every non-gate state implicit and with only the stiff Markov block implicit.

Model: O'Hara-Rudy CiPA v1 2017 imported from ``../shared/cellml`` (its hERG Markov states are
not gates: Rush-Larsen needs dt <= 0.001 ms there, RosenbrockEuler runs at 0.02 ms, see
validation/cellml_import.md). One jitted step on an ``--size`` x ``--size`` sheet at rest,
float64, dt = 0.02 ms; median over ``--repeats`` calls after a warm-up, all variants
interleaved. One JSON line per variant.

Run from the repository root:  python benchmarks/stiff_step.py [--size 64] [--repeats 10]
"""

import argparse
import pathlib

import jax
import jax.numpy as jnp
from _harness import device_kind, emit, median_seconds

import msim

CELLML = pathlib.Path(__file__).parents[2] / "shared" / "cellml"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    path = CELLML / "ohara_rudy_cipa_v1_2017.cellml"
    if not path.exists():
        raise SystemExit(f"{path} is not available (the curated CellML collection)")
    cell = msim.cells.from_cellml(path)
    ikr = tuple(n for n in cell.state_names if n.startswith("IKr."))
    n = args.size
    y = jnp.broadcast_to(cell.initial_state()[:, None, None], (cell.n_states, n, n))
    schemes = {
        "RushLarsen": msim.RushLarsen(),
        "RosenbrockEuler(all non-gates)": msim.RosenbrockEuler(),
        "RosenbrockEuler(states=IKr Markov)": msim.RosenbrockEuler(states=ikr),
    }
    zero = jnp.zeros(())
    steps = {
        name: jax.jit(lambda y, s=scheme: s.step(cell, zero, y, 0.02, zero))
        for name, scheme in schemes.items()
    }
    times = median_seconds({name: lambda f=f: f(y) for name, f in steps.items()}, args.repeats)
    gates = set(msim.cells.gate_indices(cell))
    implicit = {
        "RushLarsen": 0,
        "RosenbrockEuler(all non-gates)": cell.n_states - len(gates),
        "RosenbrockEuler(states=IKr Markov)": len(ikr),
    }
    for name, seconds in times.items():
        emit(
            {
                "case": "stiff_reaction_step",
                "model": "ohara_rudy_cipa_v1_2017",
                "scheme": name,
                "implicit_states": implicit[name],
                "n": n,
                "dtype": "float64",
                "device": device_kind(),
                "step_s": seconds,
                "relative_to_rush_larsen": seconds / times["RushLarsen"],
            }
        )


if __name__ == "__main__":
    main()
