"""`msim.ensemble.simulate` throughput: ``B`` members of ``m x m`` through the chunked API,
against the raw ``jax.jit(jax.vmap(simulate))`` of the same members, one ``n x n`` grid with
the same number of cells (``B m^2 = n^2``), and a Python loop of single compiled runs; and the
chunking overhead (the same members in chunks of B/8, B/2 and B).

The problem is the harness's Aliev-Panfilov plane wave (float32, dt 0.05, one diffusion step per
step); members differ in ``k`` (7.5-8.5) and record activation times and two probe traces
(frames every 1 time unit). Medians after warm-up, interleaved; the figures to trust are the
rates relative to the raw vmap in the same run.

    python benchmarks/ensemble.py --members 64 --member-size 32 --steps 200     # CPU
    python benchmarks/ensemble.py --members 256 --member-size 256 --steps 1000  # GPU
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
    parser.add_argument("--member-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loop-members", type=int, default=8)
    args = parser.parse_args()
    b, m, steps = args.members, args.member_size, args.steps
    n = math.isqrt(b * m * m)
    if n * n != b * m * m:
        raise SystemExit(f"{b} x {m}^2 cells is not a square grid; choose B a square.")
    log(f"ensemble: {device_kind()}, {b} x {m}^2 vs {n}^2, {steps} steps")
    dtype = jnp.float32
    params = cell_parameters(dtype)
    d = jnp.asarray(DIFFUSIVITY, dtype)
    t_end = steps * DT
    save = msim.Save(every=1.0, probes=[(m // 2, m // 2), (m // 2, m - 1)], snapshots=False)
    base = make_problem(m, params, d, dtype)
    ks = np.linspace(7.5, 8.5, b)
    design = msim.ensemble.given({"cell.k": ks})

    def member(k):
        sol = msim.simulate(
            make_problem(m, params | {"k": k}, d, dtype), t_end, DT, save, throw=False
        )
        return sol.traces, sol.activation_times, sol.result._value

    raw = jax.jit(jax.vmap(member))
    ks_dev = jnp.asarray(ks, dtype)
    big = make_problem(n, params, d, dtype)
    one = jax.jit(member)

    def loop():
        out = [one(ks_dev[i]) for i in range(args.loop_members)]
        jax.block_until_ready(out)

    def api(size):
        return lambda: msim.ensemble.simulate(
            base, design, t_end, DT, save, chunk_size=size, progress=False
        )

    cases = {
        "raw_vmap": lambda: jax.block_until_ready(raw(ks_dev)),
        "one_grid": lambda: jax.block_until_ready(msim.simulate(big, t_end, DT, save).traces),
        "python_loop": loop,
        **{f"api_chunk_{c}": api(c) for c in sorted({max(1, b // 8), max(1, b // 2), b})},
    }
    seconds = median_seconds(cases, repeats=args.repeats, warmup=1)
    res = api(b)()
    traces, _, _ = raw(ks_dev)
    diff = float(np.max(np.abs(res["traces"] - np.asarray(traces))))
    cells = b * m * m
    rates = {
        "raw_vmap": cells * steps / seconds["raw_vmap"],
        "one_grid": n * n * steps / seconds["one_grid"],
        "python_loop": args.loop_members * m * m * steps / seconds["python_loop"],
    }
    for name, s in seconds.items():
        if name.startswith("api"):
            rates[name] = cells * steps / s
    for name, rate in rates.items():
        emit(
            {
                "case": f"ensemble_{name}",
                "device": device_kind(),
                "members": b,
                "member_n": m,
                "steps": steps,
                "seconds": seconds[name],
                "cell_steps_per_s": rate,
                "rate_over_raw_vmap": rate / rates["raw_vmap"],
                "api_vs_raw_max_abs_diff": diff,
            }
        )


if __name__ == "__main__":
    main()
