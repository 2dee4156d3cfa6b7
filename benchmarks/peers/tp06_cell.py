"""One ten Tusscher-Panfilov 2006 epicardial cell paced 10 beats at 1 Hz: msim's fixed-step
Rush-Larsen against Myokit's CVODES (adaptive BDF, Newton; `myokit.Simulation`).

The problem (float64): TP06 epi from the CellML file's initial state, a 52 uA/uF
(= mV/ms, depolarising) stimulus for 1 ms at the start of every 1000 ms beat, 10 beats; the
last beat is sampled every 0.1 ms from its start to its end (10 001 samples).

- msim: ``msim.protocols.pace(TenTusscherPanfilov2006(cell_type="epi"), bcl=1000, n_beats=1,
  prepace=9, dt=0.01, stimulus_amplitude=52, stimulus_duration=1, save_every=0.1)``: one
  jit-compiled call, Rush-Larsen gates and forward Euler for the other states at dt = 0.01 ms
  (10^6 steps); a step is stimulated when its midpoint lies in the pulse.
- Myokit: the CellML file (/work/shared/cellml/ten_tusscher_model_2006_epi.cellml) with
  ``i_Stim = pace * stim_amplitude`` (-52 uA/uF) and ``myokit.pacing.blocktrain(period=1000,
  duration=1)``; ``run(9000)`` without a log, then ``run(1000.05)`` logging V every 0.1 ms.
  Timed at Myokit's default tolerances (abs 1e-6, rel 1e-4); the reference is the same run
  at rtol = atol = 1e-8.

Speed: wall time of the whole 10-beat run, warm (msim compiled first: ``msim_compile_s``;
Myokit's C module built once: ``peer_build_s``), median of interleaved repeats.

Agreement: APD90 of the last beat (`msim.observe.apd` on the 0.1 ms samples of both), the
peak and the voltage at the end; msim also at dt = 0.005 ms (``--msim-dts``) to show the
first-order convergence toward the tight reference.

Needs: msim's environment, the CellML file (MSIM_CELLML_DIR overrides the folder) and, for
Myokit's CVODES, ``apt-get install libsundials-dev`` (and a C compiler). Without them the
peer gets a ``{"case", "peer", "skipped"}`` line.

Run from the repository root (about 25 s on 2 CPU cores; ``--quick``: 2 beats):

    python benchmarks/peers/tp06_cell.py [--quick] [--threads 1] [--repeats 3]
"""

import argparse

import numpy as np
from _common import (
    add_threads_argument,
    configure_threads,
    cvodes_reason,
    emit,
    interleaved,
    log,
    machine,
    myokit_module,
    relative,
    setup_jax,
    skipped,
    timed,
    tp06_myokit_model,
    tp06_reason,
    version,
)

THREADS = configure_threads()  # before jax starts its thread pool
jax = setup_jax()

import msim  # noqa: E402

CASE = "tp06_cell"
BCL, AMPLITUDE, DURATION = 1000.0, 52.0, 1.0
SAMPLE = 0.1  # ms


def summary(t: np.ndarray, v: np.ndarray) -> dict:
    t, v = np.asarray(t, np.float64), np.asarray(v, np.float64)
    return {
        "apd90": float(msim.observe.apd(v, t, 90)),
        "peak": float(v.max()),
        "v_end": float(v[-1]),
    }


def msim_runner(beats: int):
    cell = msim.cells.TenTusscherPanfilov2006(cell_type="epi")

    def run(dt: float):
        r = msim.protocols.pace(
            cell,
            BCL,
            1,
            dt,
            stimulus_amplitude=AMPLITUDE,
            stimulus_duration=DURATION,
            prepace=beats - 1,
            save_every=SAMPLE,
        )
        jax.block_until_ready(r)
        return summary(np.asarray(r.t), np.asarray(r.v[-1]))

    return run


def myokit_runner(myokit, beats: int):
    model = tp06_myokit_model(myokit, tissue=False)
    protocol = myokit.pacing.blocktrain(period=BCL, duration=DURATION, offset=0.0)
    sim = myokit.Simulation(model, protocol)
    names = ["environment.time", "membrane.V"]

    def run(tolerance: float | None = None):
        sim.reset()
        if tolerance is None:
            sim.set_tolerance()  # Myokit's defaults: abs 1e-6, rel 1e-4
        else:
            sim.set_tolerance(tolerance, tolerance)
        if beats > 1:
            sim.run((beats - 1) * BCL, log=myokit.LOG_NONE)
        d = sim.run(BCL + SAMPLE / 2, log=names, log_interval=SAMPLE)
        t = np.asarray(d[names[0]])
        return summary(t - t[0], np.asarray(d[names[1]]))

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--beats", type=int, default=10)
    parser.add_argument("--dt", type=float, default=0.01, help="msim's step (ms)")
    parser.add_argument("--msim-dts", type=float, nargs="*", default=[0.005])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2 beats, one repeat")
    add_threads_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.beats, args.repeats, args.msim_dts = 2, 1, []
    dt = args.dt
    log(f"{CASE}: {args.beats} beats at BCL {BCL} ms, msim dt {dt} ms")

    msim_run = msim_runner(args.beats)
    msim_first, _ = timed(lambda: msim_run(dt))
    log(f"msim first call (compile + run): {msim_first:.2f} s")

    myokit, reason = myokit_module()
    reason = reason or tp06_reason(myokit) or cvodes_reason(myokit)
    functions = {"msim": lambda: msim_run(dt)}
    if reason:
        skipped(CASE, "myokit_cvodes", reason)
    else:
        build_s, run_mk = timed(lambda: myokit_runner(myokit, args.beats))
        run_mk()  # warm-up (first-call costs, if any)
        functions["myokit_cvodes"] = run_mk
    medians, all_times, results = interleaved(functions, args.repeats)
    msim_s = medians["msim"]
    by_dt = {str(dt): results["msim"]}
    for h in args.msim_dts:
        by_dt[str(h)] = msim_run(h)
        log(f"  msim dt {h}: APD90 {by_dt[str(h)]['apd90']:.3f} ms")

    if reason:
        return
    tight_s, tight = timed(lambda: run_mk(1e-8))
    peer, ms = results["myokit_cvodes"], results["msim"]
    emit(
        {
            "case": CASE,
            "peer": "myokit_cvodes",
            "peer_version": version("myokit"),
            "problem": {
                "model": "ten Tusscher-Panfilov 2006 epi (CellML initial state)",
                "beats": args.beats,
                "bcl_ms": BCL,
                "stimulus": f"{AMPLITUDE} uA/uF for {DURATION} ms at each beat's start",
                "dtype": "float64",
                "apd_of": "last beat, sampled every 0.1 ms",
            },
            "msim_scheme": f"Rush-Larsen, fixed dt = {dt} ms",
            "peer_scheme": "CVODES (BDF, Newton), default tolerances abs 1e-6 rel 1e-4",
            "repeats": args.repeats,
            "msim_compile_s": max(msim_first - msim_s, 0.0),
            "msim_s": msim_s,
            "msim_times_s": all_times["msim"],
            "peer_build_s": build_s,
            "peer_s": medians["myokit_cvodes"],
            "peer_times_s": all_times["myokit_cvodes"],
            "peer_tight_s": tight_s,
            "msim_speedup": medians["myokit_cvodes"] / msim_s,
            "apd90_msim": ms["apd90"],
            "apd90_peer": peer["apd90"],
            "apd90_reference": tight["apd90"],
            "apd90_msim_minus_reference_ms": ms["apd90"] - tight["apd90"],
            "apd90_peer_minus_reference_ms": peer["apd90"] - tight["apd90"],
            "apd90_rel_diff_vs_reference": relative(ms["apd90"], tight["apd90"]),
            "apd90_msim_by_dt": {h: r["apd90"] for h, r in by_dt.items()},
            "peak_msim": ms["peak"],
            "peak_reference": tight["peak"],
            "v_end_msim": ms["v_end"],
            "v_end_reference": tight["v_end"],
            "threads": THREADS,
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    main()
