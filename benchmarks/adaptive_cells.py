"""Adaptive single cells (issue 12, part 1): `msim.Adaptive` against fixed Rush-Larsen steps
and Myokit's CVODES on the same TP06 protocol, in the same run.

The problem: ten Tusscher-Panfilov 2006 epi (msim.cells.TenTusscherPanfilov2006, the CellML
initial state), 10 beats at 1 Hz (9 unrecorded, the 10th recorded every 0.1 ms), 52 uA/uF for
1 ms at the start of each beat, float64.

- ``single_cell``: msim ``pace(..., scheme=msim.Adaptive(rtol, atol))`` (Rosenbrock23, one
  diffrax solve per beat), msim ``pace(..., dt=0.01)`` (Rush-Larsen), Myokit ``Simulation``
  (CVODES, its default tolerances abs 1e-6 rel 1e-4) on
  ../shared/cellml/ten_tusscher_model_2006_epi.cellml: ``reset()``, 9 beats without a log,
  the 10th logged every 0.1 ms. Medians of ``--repeats`` interleaved calls after one warm-up
  call each (msim's compiles). APD90 and resting potential of the recorded beat beside a
  reference run (Adaptive rtol 1e-8, atol 1e-10).
- ``population`` (``--shared``: on the first ``--compare-cells`` cells only, both step modes;
  else ``--cells`` cells with per-cell steps): TP06 cells with g_Kr = 0.153 x a factor in
  [0.5, 2] (log-uniform
  Latin hypercube, seed 0) in one ``pace`` call with per-cell parameters, Adaptive with one
  shared step size (``shared_steps=True``) and with per-cell steps (``False``, a vmap of the
  solves), each warmed up (compiled) once then timed ``--pop-repeats`` times; CVODES runs
  one candidate after another for ``--myokit`` candidates, and the time of ``--cells`` runs
  is that time scaled (said in the record).

One JSON line per case. Run from the repository root (about 10-20 minutes on 2 CPU cores):

    python benchmarks/adaptive_cells.py [--rtol 1e-4] [--atol 1e-6] [--repeats 5]
        [--cells 1000] [--pop-repeats 1] [--myokit 50] [--skip-population] [--skip-single]
        [--shared --compare-cells 20]
"""

import argparse
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent / "peers"))

from _common import (
    cvodes_reason,
    emit,
    log,
    machine,
    myokit_module,
    setup_jax,
    skipped,
    tp06_myokit_model,
    tp06_reason,
    version,
)

jax = setup_jax()

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import msim  # noqa: E402

BCL, AMPLITUDE, DURATION, SAMPLE, BEATS = 1000.0, 52.0, 1.0, 0.1, 10
G_KR = 0.153
G_KR_VAR = "rapid_time_dependent_potassium_current.g_Kr"


def apd90(t, v) -> float:
    t, v = np.asarray(t, np.float64), np.asarray(v, np.float64)
    return float(msim.observe.apd(v, t - t[0], 90.0, v_rest=v[0]))


def msim_pace(cell, scheme, dt=None):
    r = msim.protocols.pace(
        cell, BCL, 1, dt, stimulus_amplitude=AMPLITUDE, stimulus_duration=DURATION,
        prepace=BEATS - 1, save_every=SAMPLE, scheme=scheme,
    )  # fmt: skip
    return np.asarray(r.t), np.asarray(r.v)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--atol", type=float, default=1e-6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--pop-repeats", type=int, default=1)
    parser.add_argument("--myokit", type=int, default=50)
    parser.add_argument("--skip-population", action="store_true")
    parser.add_argument("--skip-single", action="store_true")
    parser.add_argument(
        "--shared",
        action="store_true",
        help="compare shared against per-cell steps on --compare-cells cells (shared steps on "
        "1000 cells take many minutes); without it, per-cell steps only on --cells",
    )
    parser.add_argument("--compare-cells", type=int, default=20)
    args = parser.parse_args()
    myokit, reason = myokit_module()
    reason = reason or tp06_reason(myokit) or cvodes_reason(myokit)
    if reason:
        skipped("adaptive_single_cell", "myokit_cvodes", reason)
        return
    model = tp06_myokit_model(myokit, tissue=False)
    protocol = myokit.pacing.blocktrain(period=BCL, duration=DURATION, offset=0.0)
    sim = myokit.Simulation(model, protocol)
    names = ["environment.time", "membrane.V"]

    def cvodes(g_kr=G_KR):
        sim.reset()
        sim.set_constant(G_KR_VAR, float(g_kr))
        sim.run((BEATS - 1) * BCL, log=myokit.LOG_NONE)
        d = sim.run(BCL + SAMPLE / 2, log=names, log_interval=SAMPLE)
        return np.asarray(d[names[0]]), np.asarray(d[names[1]])

    if not args.skip_single:
        single(args, cvodes)
    if not args.skip_population:
        population(args, cvodes)


def single(args, cvodes):
    cell = msim.cells.TenTusscherPanfilov2006()
    adaptive = msim.Adaptive(rtol=args.rtol, atol=args.atol)
    reference = msim.Adaptive(rtol=1e-8, atol=1e-10)
    functions = {
        "msim_adaptive": lambda: msim_pace(cell, adaptive),
        "msim_rush_larsen_dt0.01": lambda: msim_pace(cell, None, 0.01),
        "myokit_cvodes": cvodes,
    }
    first = {}
    for name, f in functions.items():
        start = time.perf_counter()
        f()
        first[name] = time.perf_counter() - start
        log(f"  first call {name}: {first[name]:.2f} s")
    times = {name: [] for name in functions}
    out = {}
    for _ in range(args.repeats):
        for name, f in functions.items():
            start = time.perf_counter()
            out[name] = f()
            times[name].append(time.perf_counter() - start)
    median = {k: statistics.median(v) for k, v in times.items()}
    log(f"  medians: {median}")
    t_ref, v_ref = msim_pace(cell, reference)
    ref_apd = apd90(t_ref, v_ref[0])
    emit(
        {
            "case": "adaptive_single_cell",
            "problem": "TP06 epi, 10 beats at 1 Hz, the 10th recorded every 0.1 ms, float64",
            "msim_adaptive": f"Rosenbrock23, rtol {args.rtol}, atol {args.atol}",
            "peer": "myokit_cvodes",
            "peer_version": version("myokit"),
            "peer_scheme": "CVODES (BDF, Newton), Myokit defaults abs 1e-6 rel 1e-4",
            "median_s": median,
            "times_s": times,
            "first_call_s": first,
            "adaptive_over_cvodes_time": median["msim_adaptive"] / median["myokit_cvodes"],
            "apd90_ms": {
                "reference_rtol1e-8": ref_apd,
                **{k: apd90(*(a if a.ndim == 1 else a[0] for a in v)) for k, v in out.items()},
            },
            "v_rest_mV": {
                "reference_rtol1e-8": float(v_ref[0, 0]),
                **{k: float(np.ravel(v[1])[0]) for k, v in out.items()},
            },
            "repeats": args.repeats,
            "machine": machine(),
        }
    )


def population(args, cvodes):
    n = args.cells
    design = msim.ensemble.sample(
        {"g_Kr": (0.5 * G_KR, 2.0 * G_KR, "log")}, n, "latin_hypercube", seed=0
    )
    g_kr = np.asarray(design.values["g_Kr"], np.float64)
    if args.shared:
        n = args.compare_cells  # both modes on the first cells of the design
        g_kr = g_kr[:n]
    cells = msim.cells.TenTusscherPanfilov2006(g_Kr=jnp.asarray(g_kr))
    record = {}
    apds = {}
    for shared in (True, False) if args.shared else (False,):
        key = "shared_steps" if shared else "per_cell_steps"
        spec = msim.Adaptive(rtol=args.rtol, atol=args.atol, shared_steps=shared)
        start = time.perf_counter()
        t, v = msim_pace(cells, spec)
        first_s = time.perf_counter() - start
        log(f"  population {key}: first call {first_s:.1f} s")
        ts = []
        for _ in range(args.pop_repeats):
            start = time.perf_counter()
            t, v = msim_pace(cells, spec)
            ts.append(time.perf_counter() - start)
            log(f"  population {key}: {ts[-1]:.1f} s")
        record[key] = {"first_call_s": first_s, "times_s": ts, "median_s": statistics.median(ts)}
        apds[key] = np.asarray(msim.observe.apd(v[:, 0], t, 90.0, v_rest=v[:, 0, 0]))
    m = min(args.myokit, n)
    start = time.perf_counter()
    peer_apd = [apd90(*cvodes(g_kr[i])) for i in range(m)]
    peer_s = time.perf_counter() - start
    per_run = peer_s / m
    best = min(record, key=lambda k: record[k]["median_s"])
    emit(
        {
            "case": "adaptive_population",
            "problem": f"{n} TP06 epi cells, g_Kr {G_KR} x [0.5, 2] log-uniform LHS seed 0, "
            "10 beats at 1 Hz, the 10th recorded every 0.1 ms, float64, one pace call",
            "msim_adaptive": f"Rosenbrock23, rtol {args.rtol}, atol {args.atol}",
            "msim": record,
            "msim_faster": best,
            "peer": "myokit_cvodes",
            "peer_runs_timed": m,
            "peer_s_per_run": per_run,
            "peer_s_scaled_to_all": per_run * n,
            "peer_scaling": f"{m} sequential CVODES runs timed, scaled to {n}",
            "msim_best_over_peer_time": record[best]["median_s"] / (per_run * n),
            "apd90_max_abs_diff_ms": {
                "shared_minus_per_cell": float(
                    np.max(np.abs(apds["shared_steps"] - apds["per_cell_steps"]))
                )
                if "shared_steps" in apds
                else None,
                "msim_per_cell_minus_cvodes_first_runs": float(
                    np.max(np.abs(apds["per_cell_steps"][:m] - np.asarray(peer_apd)))
                ),
            },
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    main()
