"""Batches as fast as one big grid: `jax.vmap` of `msim.simulate` over ``B`` members of
``m x m`` against one ``n x n`` grid with the same number of cells (``B m^2 = n^2``).

The problem is the harness's Aliev-Panfilov plane wave (float32, dt 0.05, one diffusion step
per step, activation times tracked as by default); each member has its own excitability ``k``
(spread over 7.5-8.5), so the batch is a real sweep, not copies. Timed after warm-up, median
of ``--repeats`` interleaved runs; the ratio to trust is ``batch_rate / big_rate`` (the target
on a GPU is >= 0.9). Each member's final state is checked against the same member run alone.

Run from the repository root::

    python benchmarks/batch.py --members 64 --member-size 128 --steps 200      # CPU
    python benchmarks/batch.py --members 256 --member-size 256 --steps 1000    # GPU
"""

import argparse
import math

import jax
import jax.numpy as jnp
import numpy as np
from _harness import (
    DIFFUSIVITY,
    DT,
    cell_parameters,
    device_kind,
    emit,
    log,
    median_seconds,
    problem as make_problem,
)

import msim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=64)
    parser.add_argument("--member-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    b, m, steps = args.members, args.member_size, args.steps
    n = math.isqrt(b * m * m)
    if n * n != b * m * m:
        raise SystemExit(f"--members {b} x {m}^2 cells is not a square grid; choose B a square.")
    log(f"batch: device {device_kind()}, {b} x {m}^2 vs {n}^2, {steps} steps")
    dtype = jnp.float32
    params = cell_parameters(dtype)
    d = jnp.asarray(DIFFUSIVITY, dtype)
    save = msim.Save(every=None, snapshots=False)
    t_end = steps * DT
    ks = jnp.linspace(7.5, 8.5, b, dtype=dtype)

    def member(k):
        p = make_problem(m, params | {"k": k}, d, dtype)
        sol = msim.simulate(p, t_end, DT, save)
        return sol.final_state, sol.activation_times, sol.result._value

    batched = jax.jit(jax.vmap(member))
    big = make_problem(n, params, d, dtype)

    def run_big():
        sol = msim.simulate(big, t_end, DT, save)
        return sol.final_state, sol.activation_times

    seconds = median_seconds(
        {"batch": lambda: batched(ks), "big": run_big}, repeats=args.repeats, warmup=2
    )
    y_batch, _, results = batched(ks)
    checked = [0, b // 2, b - 1]
    diff = max(float(jnp.max(jnp.abs(y_batch[i] - member(ks[i])[0]))) for i in checked)
    cells = b * m * m
    emit(
        {
            "case": "batch_vs_one_grid",
            "device": device_kind(),
            "members": b,
            "member_n": m,
            "big_n": n,
            "steps": steps,
            "dtype": str(jnp.dtype(dtype)),
            "batch_s": seconds["batch"],
            "big_s": seconds["big"],
            "batch_cell_steps_per_s": cells * steps / seconds["batch"],
            "big_cell_steps_per_s": n * n * steps / seconds["big"],
            "batch_rate_over_big_rate": seconds["big"] / seconds["batch"],
            "all_successful": bool(np.all(np.asarray(results) == 0)),
            "member_vs_alone_max_abs_diff": diff,
        }
    )


if __name__ == "__main__":
    main()
