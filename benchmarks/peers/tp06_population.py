"""A population of 1000 ten Tusscher-Panfilov 2006 epicardial cells with different g_Kr,
10 beats at 1 Hz: msim vectorised over the population against sequential Myokit CVODES runs.

The problem (float64): TP06 epi from the CellML file's initial state with g_Kr = 0.153 *
scale, one scale per member drawn uniformly from [0.5, 1.5] by
``numpy.random.default_rng(0)``; 52 uA/uF for 1 ms at the start of every 1000 ms beat, 10
beats; APD90 of the last beat, sampled every 0.1 ms (10 001 samples per member).

- msim: one `TenTusscherPanfilov2006(cell_type="epi", g_Kr=<array of shape (1000,)>)`, so
  every call of ``msim.protocols.pace`` paces all 1000 cells at once (state (19, 1000)),
  Rush-Larsen at dt = 0.01 ms. The 10 beats are 10 calls of one beat each
  (``pace(cell, 1000, 1, 0.01, stimulus_amplitude=52, save_every=0.1, y0=<the previous
  call's final_state>)``), the same compiled program every time: the first call compiles
  (``msim_compile_s`` = first call minus the median beat), and a warm 10-beat run is 10
  median beats (``msim_s``). A single ``pace(..., prepace=9)`` call would do the same work
  but could only be timed warm by running it twice (3 more minutes here).
- Myokit: `myokit.Simulation` (CVODES, default tolerances abs 1e-6, rel 1e-4) on the CellML
  file, one member after another: ``set_constant(g_Kr)``, ``reset()``, 9 beats without a log,
  the 10th logged every 0.1 ms. ``--myokit-members`` runs only the first members and scales
  the time to the whole population (``peer_scaled``); by default all 1000 run. The Myokit
  runs are interleaved with msim's beats (a tenth of them after each beat).

Agreement: APD90 of the last beat, msim against Myokit over every member Myokit ran (max and
mean absolute difference), and both against Myokit at rtol = atol = 1e-8 for the first
``--reference-members`` (default 20).

Needs: msim's environment, the CellML file (MSIM_CELLML_DIR overrides the folder), and for
Myokit's CVODES ``apt-get install libsundials-dev`` (and a C compiler); a missing peer gets a
``{"case", "peer", "skipped"}`` line.

Run from the repository root (about 5 minutes on 2 CPU cores, most of it msim's 10^9
cell-steps; ``--quick``: 20 members, 2 beats):

    python benchmarks/peers/tp06_population.py [--quick] [--threads 1] [--members 1000]
        [--myokit-members 1000] [--reference-members 20]
"""

import argparse
import statistics

import numpy as np
from _common import (
    add_threads_argument,
    configure_threads,
    cvodes_reason,
    emit,
    log,
    machine,
    myokit_module,
    setup_jax,
    skipped,
    timed,
    tp06_myokit_model,
    tp06_reason,
    version,
)

THREADS = configure_threads()  # before jax starts its thread pool
jax = setup_jax()
import jax.numpy as jnp  # noqa: E402

import msim  # noqa: E402

CASE = "tp06_population"
BCL, AMPLITUDE, DURATION, DT = 1000.0, 52.0, 1.0, 0.01
SAMPLE = 0.1  # ms
G_KR = 0.153
G_KR_VAR = "rapid_time_dependent_potassium_current.g_Kr"


def apd90(t, v) -> np.ndarray:
    return np.asarray(msim.observe.apd(np.asarray(v, np.float64), np.asarray(t, np.float64), 90))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--beats", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--myokit-members", type=int, default=None, help="default: all")
    parser.add_argument("--reference-members", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="20 members, 2 beats")
    add_threads_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.members, args.beats, args.reference_members = 20, 2, 5
    n = args.members
    scale = np.random.default_rng(args.seed).uniform(0.5, 1.5, n)
    log(f"{CASE}: {n} members, {args.beats} beats at BCL {BCL} ms, msim dt {DT} ms")

    myokit, reason = myokit_module()
    reason = reason or tp06_reason(myokit) or cvodes_reason(myokit)
    if reason:
        skipped(CASE, "myokit_cvodes", reason)
    else:
        model = tp06_myokit_model(myokit, tissue=False)
        protocol = myokit.pacing.blocktrain(period=BCL, duration=DURATION, offset=0.0)
        build_s, sim = timed(lambda: myokit.Simulation(model, protocol))
    names = ["environment.time", "membrane.V"]

    def myokit_member(i: int, tolerance: float | None = None) -> float:
        sim.reset()
        sim.set_constant(G_KR_VAR, G_KR * float(scale[i]))
        if tolerance is None:
            sim.set_tolerance()
        else:
            sim.set_tolerance(tolerance, tolerance)
        if args.beats > 1:
            sim.run((args.beats - 1) * BCL, log=myokit.LOG_NONE)
        d = sim.run(BCL + SAMPLE / 2, log=names, log_interval=SAMPLE)
        t = np.asarray(d[names[0]])
        return float(apd90(t - t[0], np.asarray(d[names[1]])))

    apd_myokit: dict[int, float] = {}

    def run_members(indices):
        for i in indices:
            apd_myokit[int(i)] = myokit_member(int(i))

    n_myokit = n if args.myokit_members is None else min(args.myokit_members, n)
    chunks = np.array_split(np.arange(n_myokit), args.beats) if not reason else []
    if not reason:
        myokit_member(0)  # warm-up

    cell = msim.cells.TenTusscherPanfilov2006(cell_type="epi", g_Kr=jnp.asarray(G_KR * scale))
    y, beat_s, chunk_s = None, [], []
    for beat in range(args.beats):
        seconds, r = timed(
            lambda y=y: jax.block_until_ready(
                msim.protocols.pace(
                    cell,
                    BCL,
                    1,
                    DT,
                    stimulus_amplitude=AMPLITUDE,
                    stimulus_duration=DURATION,
                    save_every=SAMPLE,
                    y0=y,
                )
            )
        )
        y = r.final_state
        beat_s.append(seconds)
        log(f"  msim beat {beat + 1}/{args.beats}: {seconds:.2f} s")
        if chunks:
            start = len(apd_myokit)
            seconds, _ = timed(lambda c=chunks[beat]: run_members(c))
            chunk_s.append(seconds)
            log(f"  myokit members {start}-{len(apd_myokit) - 1}: {seconds:.2f} s")
    apd_msim = apd90(np.asarray(r.t), np.asarray(r.v[:, -1]))

    per_beat = statistics.median(beat_s[1:]) if len(beat_s) > 1 else beat_s[0]
    msim_s = per_beat * args.beats
    if reason:
        return
    members = np.asarray(sorted(apd_myokit))
    got = np.asarray([apd_myokit[i] for i in members])
    diff = apd_msim[members] - got
    refs = {i: myokit_member(i, 1e-8) for i in range(min(args.reference_members, n))}
    ref_members = np.asarray(sorted(refs))
    ref = np.asarray([refs[i] for i in ref_members])
    peer_s = sum(chunk_s)
    peer_scaled = peer_s * n / len(members)
    emit(
        {
            "case": CASE,
            "peer": "myokit_cvodes",
            "peer_version": version("myokit"),
            "problem": {
                "model": "ten Tusscher-Panfilov 2006 epi (CellML initial state)",
                "members": n,
                "g_Kr": f"{G_KR} * U[0.5, 1.5], numpy default_rng({args.seed})",
                "beats": args.beats,
                "bcl_ms": BCL,
                "stimulus": f"{AMPLITUDE} uA/uF for {DURATION} ms at each beat's start",
                "dtype": "float64",
                "apd_of": "last beat, sampled every 0.1 ms",
            },
            "msim_scheme": f"Rush-Larsen, fixed dt = {DT} ms, all members in one array",
            "peer_scheme": "CVODES (BDF, Newton), default tolerances abs 1e-6 rel 1e-4, "
            "one member after another",
            "msim_compile_s": max(beat_s[0] - per_beat, 0.0),
            "msim_beat_s": beat_s,
            "msim_s": msim_s,
            "msim_cell_steps_per_s": n * args.beats * round(BCL / DT) / msim_s,
            "peer_build_s": build_s,
            "peer_members_run": len(members),
            "peer_s": peer_s,
            "peer_scaled_s": peer_scaled,
            "peer_scaled": len(members) < n,
            "peer_s_per_member": peer_s / len(members),
            "msim_speedup": peer_scaled / msim_s,
            "apd90_max_abs_diff_ms": float(np.max(np.abs(diff))),
            "apd90_mean_abs_diff_ms": float(np.mean(np.abs(diff))),
            "apd90_max_rel_diff": float(np.max(np.abs(diff / got))),
            "apd90_range_ms": [float(apd_msim.min()), float(apd_msim.max())],
            "reference_members": len(ref_members),
            "apd90_msim_vs_reference_max_abs_ms": float(
                np.max(np.abs(apd_msim[ref_members] - ref))
            ),
            "apd90_peer_vs_reference_max_abs_ms": float(
                np.max(np.abs(got[: len(ref_members)] - ref))
            )
            if len(members) >= len(ref_members)
            else None,
            "threads": THREADS,
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    main()
