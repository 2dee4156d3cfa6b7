"""Cost of the online trackers: a 2D Aliev-Panfilov run with and without Beats and Tips.

Prints one JSON line per case (median of 5 after a warm-up), with the plain run as the
baseline in the same process. `python benchmarks/trackers.py [--size N] [--steps N]`.
"""

import argparse
import json
import time

import jax
import numpy as np

import msim
from msim.observe import Beats, Tips


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cell = msim.cells.AlievPanfilov()
    grid = msim.Grid((args.size, args.size), 0.5)
    stim = msim.Stimulus(msim.regions.box((0, 0), (1.5, args.size * 0.5)), 0.0, 1.0, 1.0)
    problem = msim.Monodomain(cell, grid, 1.0, stimulus=stim)
    dt = 0.05
    t_end = args.steps * dt
    every = 100 * dt  # frames every 100 steps (the Tips work is per frame)
    cases = {
        "plain": (),
        "beats_10": (Beats(10),),
        "beats_40": (Beats(40),),
        "tips": (Tips(),),
        "beats_10_tips": (Beats(10), Tips()),
    }
    base = None
    for name, trackers in cases.items():
        save = msim.Save(every=every, snapshots=False, trackers=trackers)

        def once(save=save):
            sol = msim.simulate(problem, t_end, dt, save)
            jax.block_until_ready(sol.final_state)

        once()
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            once()
            times.append(time.perf_counter() - start)
        median = float(np.median(times))
        base = median if base is None else base
        print(
            json.dumps(
                {
                    "case": name,
                    "grid": [args.size, args.size],
                    "steps": args.steps,
                    "dtype": str(problem.initial_state.dtype),
                    "device": jax.devices()[0].device_kind,
                    "median_s": round(median, 4),
                    "vs_plain": round(median / base, 3),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
