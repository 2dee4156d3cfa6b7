"""Populations of models (issue 10): `msim.ensemble.population` candidates per second against
sequential Myokit CVODES single-cell runs of the same TP06 model, on the same protocol.

The problem: ten Tusscher-Panfilov 2006 epi from the CellML initial state, g_Kr = 0.153 x a
factor in [0.5, 2] (log-uniform Latin hypercube, seed 0), 10 beats at 1 Hz (9 unrecorded, the
10th recorded and measured), 52 uA/uF for 1 ms at the start of each beat.

- msim: `msim.ensemble.population(TenTusscherPanfilov2006(), design, 1000, dt=0.01,
  stimulus_amplitude=52, prepace=9, chunk_size=C)`: Rush-Larsen at fixed dt, C candidates per
  compiled, vmapped chunk, biomarkers (APD30/50/90, rest, peak, dV/dt max, calcium transient)
  measured inside the compiled program. The first call compiles (``msim_compile_s`` = first
  call minus the median warm call); msim caches the compiled program per member function and
  settings, so later calls with new values of the same shapes only run it. Warm rate = C /
  the median of ``--repeats`` warm one-chunk calls (host overhead included: what a user calling
  `population` again gets).
- Myokit: `myokit.Simulation` (CVODES, default tolerances abs 1e-6 rel 1e-4) on the CellML
  file ../shared/cellml/ten_tusscher_model_2006_epi.cellml (MSIM_CELLML_DIR overrides), built
  once; per candidate ``reset()``, ``set_constant(g_Kr)``, 9 beats without a log, the 10th
  logged every 0.1 ms (V, dot(V), Ca_i), and the same biomarkers in NumPy (dV/dt max from
  the logged dot(V), so at 0.1 ms samples; msim's is over every step). Time per candidate
  over ``--myokit`` candidates, after one warm-up run, split into ``--repeats`` batches
  interleaved with msim's warm calls (so load from other processes hits both alike).
- Agreement: APD90 of the candidates both ran, msim against Myokit.

One JSON line per case (``--dtype float32`` is msim's default; ``float64`` enables x64).

Run from the repository root (about 5-8 minutes per dtype on 2 CPU cores):

    python benchmarks/population_vs_myokit.py [--dtype float32|float64] [--chunk 256]
        [--myokit 30] [--repeats 3] [--dt 0.01] [--beats 10]
"""

import argparse
import os
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent / "peers"))
DTYPE = "float64" if "float64" in sys.argv else "float32"

import jax  # noqa: E402

if DTYPE == "float64":
    jax.config.update("jax_enable_x64", True)
jax.devices()  # initialise JAX before Myokit compiles (it redirects the standard streams)

import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    cvodes_reason,
    emit,
    log,
    machine,
    myokit_module,
    skipped,
    tp06_myokit_model,
    tp06_reason,
    version,
)

import msim  # noqa: E402

CASE = "population_vs_myokit"
BCL, AMPLITUDE, DURATION, SAMPLE = 1000.0, 52.0, 1.0, 0.1
G_KR = 0.153
G_KR_VAR = "rapid_time_dependent_potassium_current.g_Kr"
CAI_VAR = "calcium_dynamics.Ca_i"


def biomarkers(t, v, dvdt, cai) -> dict[str, float]:
    """The population's biomarkers of one sampled beat (NumPy, float64)."""
    t, v = np.asarray(t, np.float64) - t[0], np.asarray(v, np.float64)
    out = {f"apd{p}": float(msim.observe.apd(v, t, p, v_rest=v[0])) for p in (30, 50, 90)}
    k = int(np.argmax(cai))
    return out | {
        "v_rest": float(v[0]),
        "v_peak": float(v.max()),
        "dvdt_max": float(np.max(dvdt)),
        "ca_diastolic": float(cai[0]),
        "ca_amplitude": float(cai[k] - cai[0]),
        "ca_ttp": float(t[k]),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--myokit", type=int, default=30)
    parser.add_argument("--dt", type=float, default=0.01)
    parser.add_argument("--beats", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    c, beats = args.chunk, args.beats
    design = msim.ensemble.sample(
        {"g_Kr": (0.5 * G_KR, 2.0 * G_KR, "log")}, c, "latin_hypercube", seed=0
    )
    g_kr = design.values["g_Kr"]
    log(f"{CASE}: TP06 epi, {beats} beats at 1 Hz, msim dt {args.dt} ms, {args.dtype}")

    myokit, reason = myokit_module()
    reason = reason or tp06_reason(myokit) or cvodes_reason(myokit)
    if reason:
        skipped(CASE, "myokit_cvodes", reason)
        return
    model = tp06_myokit_model(myokit, tissue=False)
    protocol = myokit.pacing.blocktrain(period=BCL, duration=DURATION, offset=0.0)
    t0 = time.perf_counter()
    sim = myokit.Simulation(model, protocol)
    build_s = time.perf_counter() - t0
    names = ["environment.time", "membrane.V", "dot(membrane.V)", CAI_VAR]

    def myokit_candidate(i: int) -> dict[str, float]:
        sim.reset()
        sim.set_constant(G_KR_VAR, float(g_kr[i]))
        if beats > 1:
            sim.run((beats - 1) * BCL, log=myokit.LOG_NONE)
        d = sim.run(BCL + SAMPLE / 2, log=names, log_interval=SAMPLE)
        return biomarkers(*(np.asarray(d[n]) for n in names))

    myokit_candidate(0)  # warm-up
    peer, peer_s = {}, 0.0

    def run_myokit(indices):
        nonlocal peer_s
        start = time.perf_counter()
        for i in indices:
            peer[int(i)] = myokit_candidate(int(i))
        peer_s += time.perf_counter() - start

    def population(n):
        return msim.ensemble.population(
            msim.cells.TenTusscherPanfilov2006(), {"g_Kr": g_kr[:n]}, BCL, args.dt,
            stimulus_amplitude=AMPLITUDE, stimulus_duration=DURATION, prepace=beats - 1,
            chunk_size=c, progress=False,
        )  # fmt: skip

    def timed_population(n):
        start = time.perf_counter()
        out = population(n)
        return time.perf_counter() - start, out

    first_s, first = timed_population(c)
    log(f"  msim: first call, 1 chunk of {c}: {first_s:.1f} s (compiles)")
    warm_s = []
    for batch in np.array_split(np.arange(args.myokit), args.repeats):
        run_myokit(batch)
        log(f"  myokit: {len(peer)} candidates, {peer_s:.2f} s")
        seconds, warm = timed_population(c)
        warm_s.append(seconds)
        log(f"  msim: warm call, 1 chunk of {c}: {seconds:.1f} s")
    same = all(np.array_equal(first[k], warm[k], equal_nan=True) for k in first.outputs)
    chunk_s = statistics.median(warm_s)
    msim_rate = c / chunk_s
    peer_rate = len(peer) / peer_s
    both = np.asarray(sorted(peer))
    diff = {
        name: warm[name][both] - np.asarray([peer[i][name] for i in both])
        for name in ("apd90", "apd50", "v_rest", "v_peak", "dvdt_max", "ca_amplitude")
    }
    emit(
        {
            "case": CASE,
            "peer": "myokit_cvodes",
            "peer_version": version("myokit"),
            "problem": {
                "model": "ten Tusscher-Panfilov 2006 epi (CellML initial state)",
                "g_Kr": f"{G_KR} x [0.5, 2] log-uniform, Latin hypercube seed 0",
                "beats": beats,
                "bcl_ms": BCL,
                "stimulus": f"{AMPLITUDE} uA/uF for {DURATION} ms at each beat's start",
                "biomarkers": "APD30/50/90, v_rest, v_peak, dV/dt max, Ca_i transient of the "
                "last beat, sampled every 0.1 ms",
            },
            "msim_dtype": args.dtype,
            "msim_scheme": f"Rush-Larsen, fixed dt = {args.dt} ms, msim.ensemble.population, "
            f"chunks of {c} candidates",
            "peer_scheme": "CVODES (BDF, Newton), default tolerances abs 1e-6 rel 1e-4, one "
            "candidate after another, float64",
            "msim_chunk": c,
            "msim_first_call_s": first_s,
            "msim_warm_call_s": warm_s,
            "msim_compile_s": first_s - chunk_s,
            "msim_candidates_per_s": msim_rate,
            "msim_cell_steps_per_s": msim_rate * beats * round(BCL / args.dt),
            "msim_repeat_bitwise_equal": bool(same),
            "peer_build_s": build_s,
            "peer_candidates": len(peer),
            "peer_s": peer_s,
            "peer_s_per_candidate": peer_s / len(peer),
            "peer_candidates_per_s": peer_rate,
            "msim_over_peer": msim_rate / peer_rate,
            "max_abs_diff_msim_minus_peer": {k: float(np.max(np.abs(v))) for k, v in diff.items()},
            "apd90_range_ms": [float(np.min(warm["apd90"])), float(np.max(warm["apd90"]))],
            "msim_successful": int(warm.successful.sum()),
            "threads": len(os.sched_getaffinity(0)),
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    main()
