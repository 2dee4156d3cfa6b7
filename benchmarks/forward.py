"""Forward-run throughput of `msim.simulate` against a hand-written `lax.scan` of the same scheme.

Aliev-Panfilov in 2D (default parameters, scalar diffusivity 1, spacing 0.5, no mask, no-flux
edges, float32), a plane wave entering from the left edge. Both runs take ``--steps`` Godunov
steps of ``dt = 0.05`` (forward Euler reaction, then one explicit 5-point diffusion step; dt is
inside the diffusion limit ``h^2 / (4 D) = 0.0625``, so msim does not sub-step).

Timed, after warm-up (compilation excluded), median of ``--repeats`` interleaved runs:

- ``msim``: ``msim.simulate(problem, t_end=steps * dt, dt=dt, save=Save(every=None,
  snapshots=False))``, called exactly as a user calls it (activation times tracked, the
  default);
- ``msim_no_activation``: the same with ``Save(..., activation=False)``, which drops the
  activation-time tracking: the like-for-like comparison with the baseline;
- ``baseline``: the jitted hand-written scan (`_harness.baseline_run`, its carry the tuple
  ``(u, v)``), same dt and steps;
- ``baseline_tracked``: the baseline plus msim's per-step activation-time tracking, the
  like-for-like comparison with ``msim``.

One JSON line per grid size on stdout, then one ``forward_call_overhead`` line (one-step runs
on the smallest grid: msim's fixed per-call cost). ``ratio`` is msim time / baseline time
(target <= 1.10), ``ratio_no_activation`` the same for ``msim_no_activation``.
``*_gbps_min`` is the memory bandwidth the run would need if each step moved only the bytes it
must (state read and written once, plus the activation times for msim and the tracked
baseline): compare with the device's peak to see how close to the roofline a run is.

Run from the repository root: ``python benchmarks/forward.py --sizes 128 256 512``.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from _harness import (
    DIFFUSIVITY,
    DT,
    baseline_run,
    cell_parameters,
    device_kind,
    emit,
    initial_state,
    log,
    median_seconds,
    problem,
)

import msim

N_STATES = 2  # u, v


def nan_aware_max_diff(a, b) -> tuple[float, bool]:
    """Max |a - b| where both are finite, and whether the NaN patterns agree."""
    a, b = np.asarray(a), np.asarray(b)
    same_nans = bool((np.isnan(a) == np.isnan(b)).all())
    both = np.isfinite(a) & np.isfinite(b)
    diff = float(np.max(np.abs(a[both] - b[both]))) if both.any() else 0.0
    return diff, same_nans


def run_case(n: int, steps: int, repeats: int, tracked: bool, dtype=jnp.float32) -> dict:
    params = cell_parameters(dtype)
    diffusivity = jnp.asarray(DIFFUSIVITY, dtype)
    prob = problem(n, params, diffusivity, dtype)
    y0 = initial_state(n, dtype)
    save = msim.Save(every=None, snapshots=False)
    save_no_activation = msim.Save(every=None, snapshots=False, activation=False)
    t_end = steps * DT
    base = jax.jit(baseline_run, static_argnames=("dt", "steps", "track_activation"))

    def run_msim():
        sol = msim.simulate(prob, t_end=t_end, dt=DT, save=save)
        return sol.final_state, sol.activation_times

    def run_msim_no_activation():
        return msim.simulate(prob, t_end=t_end, dt=DT, save=save_no_activation).final_state

    def run_baseline():
        return base(y0, params, diffusivity, dt=DT, steps=steps)

    def run_tracked():
        return base(y0, params, diffusivity, dt=DT, steps=steps, track_activation=True)

    functions = {
        "msim": run_msim,
        "msim_no_activation": run_msim_no_activation,
        "baseline": run_baseline,
    }
    if tracked:
        functions["baseline_tracked"] = run_tracked
    seconds = median_seconds(functions, repeats, warmup=2)

    y_msim, t_msim = run_msim()
    y_base, _ = run_baseline()
    cell_steps = n * n * steps
    itemsize = jnp.dtype(dtype).itemsize
    state_bytes = 2 * N_STATES * itemsize  # read and write each state once
    tracked_bytes = state_bytes + 2 * itemsize  # plus the activation times, read and written
    record = {
        "case": "forward_aliev_panfilov_2d",
        "n": n,
        "steps": steps,
        "dtype": str(y_msim.dtype),
        "device": device_kind(),
        "repeats": repeats,
        "msim_s": seconds["msim"],
        "baseline_s": seconds["baseline"],
        "msim_cell_steps_per_s": cell_steps / seconds["msim"],
        "baseline_cell_steps_per_s": cell_steps / seconds["baseline"],
        "ratio": seconds["msim"] / seconds["baseline"],
        "within_10pct": seconds["msim"] <= 1.10 * seconds["baseline"],
        "max_abs_diff": float(jnp.max(jnp.abs(y_msim - y_base))),
        "msim_no_activation_s": seconds["msim_no_activation"],
        "ratio_no_activation": seconds["msim_no_activation"] / seconds["baseline"],
        "within_10pct_no_activation": seconds["msim_no_activation"] <= 1.10 * seconds["baseline"],
        "no_activation_max_abs_diff": float(jnp.max(jnp.abs(run_msim_no_activation() - y_base))),
        "min_bytes_per_cell_step": {"baseline": state_bytes, "tracked": tracked_bytes},
        "msim_gbps_min": tracked_bytes * cell_steps / seconds["msim"] / 1e9,
        "msim_no_activation_gbps_min": state_bytes
        * cell_steps
        / seconds["msim_no_activation"]
        / 1e9,
        "baseline_gbps_min": state_bytes * cell_steps / seconds["baseline"] / 1e9,
        "activated_fraction": float(jnp.mean(jnp.isfinite(t_msim))),
    }
    if tracked:
        _, t_tracked = run_tracked()
        t_diff, same_nans = nan_aware_max_diff(t_msim, t_tracked)
        record |= {
            "baseline_tracked_s": seconds["baseline_tracked"],
            "ratio_vs_tracked": seconds["msim"] / seconds["baseline_tracked"],
            "tracking_cost": seconds["baseline_tracked"] / seconds["baseline"],
            "baseline_tracked_gbps_min": tracked_bytes
            * cell_steps
            / seconds["baseline_tracked"]
            / 1e9,
            "activation_max_abs_diff": t_diff,
            "activation_same_nans": same_nans,
        }
    return record


def call_overhead(n: int, repeats: int) -> dict:
    """Fixed cost per call: one-step runs of msim and of the baseline on an ``n x n`` grid.

    msim validates its inputs and builds its plan in Python on every call; this is what that
    costs next to a jitted function's dispatch, to be weighed against a run's length."""
    dtype = jnp.float32
    params = cell_parameters(dtype)
    diffusivity = jnp.asarray(DIFFUSIVITY, dtype)
    prob = problem(n, params, diffusivity, dtype)
    y0 = initial_state(n, dtype)
    save = msim.Save(every=None, snapshots=False)
    base = jax.jit(baseline_run, static_argnames=("dt", "steps", "track_activation"))
    seconds = median_seconds(
        {
            "msim": lambda: msim.simulate(prob, t_end=DT, dt=DT, save=save).final_state,
            "baseline": lambda: base(y0, params, diffusivity, dt=DT, steps=1)[0],
        },
        repeats=max(repeats, 20),
        warmup=2,
    )
    return {
        "case": "forward_call_overhead",
        "n": n,
        "steps": 1,
        "device": device_kind(),
        "msim_s": seconds["msim"],
        "baseline_s": seconds["baseline"],
        "msim_extra_s": seconds["msim"] - seconds["baseline"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", choices=["float32", "float64"], nargs="+", default=["float32"])
    parser.add_argument(
        "--no-tracked",
        action="store_true",
        help="skip the diagnostic baseline with activation tracking",
    )
    args = parser.parse_args()
    log(f"forward: device {device_kind()}, sizes {args.sizes}, {args.steps} steps")
    if "float64" in args.dtype:
        jax.config.update("jax_enable_x64", True)
    for dtype in args.dtype:
        for n in args.sizes:
            emit(run_case(n, args.steps, args.repeats, not args.no_tracked, jnp.dtype(dtype)))
    emit(call_overhead(min(args.sizes), args.repeats))


if __name__ == "__main__":
    main()
