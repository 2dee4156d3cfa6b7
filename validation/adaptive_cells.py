"""Adaptive single cells against CVODES, and the generalised Rush-Larsen APD error against dt
(issue 12, part 1). Writes validation/adaptive_cells.json and prints the tables of
validation/adaptive_cells.md.

Problem: TP06 epi (msim.cells.TenTusscherPanfilov2006, the CellML initial state), 10 beats at
1 Hz, 52 uA/uF for 1 ms, the 10th beat recorded every 0.1 ms, float64. Reference: msim.Adaptive
(rtol 1e-8, atol 1e-10).

1. msim.Adaptive at rtol 1e-3 .. 1e-6 (atol = rtol / 100) and Myokit's CVODES (its defaults,
   abs 1e-6 rel 1e-4, on ../shared/cellml/ten_tusscher_model_2006_epi.cellml): APD90, resting
   potential, time (median of 3 after a warm-up call).
2. RushLarsen and GeneralizedRushLarsen at dt = 0.01, 0.02, 0.05, 0.1, 0.2 ms: APD90 error
   against the reference, and the cost per step (time of the 10 beats / steps).

Run from the repository root (about 10 minutes on 2 cores):

    python validation/adaptive_cells.py
"""

import json
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "benchmarks" / "peers"))
from _common import machine, myokit_module, setup_jax, tp06_myokit_model

jax = setup_jax()
import numpy as np  # noqa: E402

import msim  # noqa: E402

BCL, AMPLITUDE, BEATS, SAMPLE = 1000.0, 52.0, 10, 0.1
OUT = pathlib.Path(__file__).with_suffix(".json")


def run(scheme, dt=None):
    # Samples every 0.1 ms, or every step when dt is larger.
    every = SAMPLE if dt is None else max(SAMPLE, dt)
    r = msim.protocols.pace(
        msim.cells.TenTusscherPanfilov2006(), BCL, 1, dt, stimulus_amplitude=AMPLITUDE,
        prepace=BEATS - 1, save_every=every, scheme=scheme,
    )  # fmt: skip
    return np.asarray(r.t), np.asarray(r.v[0])


def apd90(t, v):
    return float(msim.observe.apd(v, t - t[0], 90.0, v_rest=v[0]))


def timed(f, repeats=3):
    f()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main():
    t, v = run(msim.Adaptive(rtol=1e-8, atol=1e-10))
    ref = {"apd90_ms": apd90(t, v), "v_rest_mV": float(v[0])}
    print(f"reference: {ref}", flush=True)
    rows = []
    myokit, reason = myokit_module()
    if reason is None:
        assert myokit is not None
        model = tp06_myokit_model(myokit, tissue=False)
        sim = myokit.Simulation(model, myokit.pacing.blocktrain(period=BCL, duration=1.0))

        def cvodes():
            sim.reset()
            sim.run((BEATS - 1) * BCL, log=myokit.LOG_NONE)
            d = sim.run(BCL + SAMPLE / 2, log=["environment.time", "membrane.V"],
                        log_interval=SAMPLE)  # fmt: skip
            return np.asarray(d["environment.time"]), np.asarray(d["membrane.V"])

        seconds, (t, v) = timed(cvodes)
        rows.append({"solver": "Myokit CVODES (abs 1e-6, rel 1e-4)", "apd90_ms": apd90(t, v),
                     "v_rest_mV": float(v[0]), "seconds": seconds})  # fmt: skip
    for rtol in (1e-3, 1e-4, 1e-5, 1e-6):
        spec = msim.Adaptive(rtol=rtol, atol=rtol / 100)
        seconds, (t, v) = timed(lambda spec=spec: run(spec))
        rows.append({"solver": f"msim Adaptive rtol {rtol:g} atol {rtol / 100:g}",
                     "apd90_ms": apd90(t, v), "v_rest_mV": float(v[0]), "seconds": seconds})  # fmt: skip
        print(rows[-1], flush=True)
    for row in rows:
        row["apd90_rel_error"] = row["apd90_ms"] / ref["apd90_ms"] - 1
    grl = []
    for name, scheme in (("RushLarsen", msim.RushLarsen()),
                         ("GeneralizedRushLarsen", msim.GeneralizedRushLarsen())):  # fmt: skip
        for dt in (0.01, 0.02, 0.05, 0.1, 0.2):
            seconds, (t, v) = timed(lambda s=scheme, dt=dt: run(s, dt), repeats=1)
            steps = BEATS * round(BCL / dt)
            a = apd90(t, v)
            grl.append({"scheme": name, "dt_ms": dt, "apd90_ms": a,
                        "apd90_error_ms": a - ref["apd90_ms"],
                        "apd90_rel_error": a / ref["apd90_ms"] - 1,
                        "seconds": seconds, "us_per_step": seconds / steps * 1e6})  # fmt: skip
            print(grl[-1], flush=True)
    record = {"reference": ref, "adaptive_vs_cvodes": rows, "grl": grl, "machine": machine()}
    OUT.write_text(json.dumps(record, indent=1))
    print("| solver | APD90 (ms) | rel. error | V_rest (mV) | time (s) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['solver']} | {r['apd90_ms']:.3f} | {r['apd90_rel_error']:+.2e} | "
              f"{r['v_rest_mV']:.4f} | {r['seconds']:.3f} |")  # fmt: skip
    print("\n| scheme | dt (ms) | APD90 (ms) | error (ms) | rel. error | us/step |")
    print("|---|---|---|---|---|---|")
    for r in grl:
        print(f"| {r['scheme']} | {r['dt_ms']} | {r['apd90_ms']:.3f} | {r['apd90_error_ms']:+.3f} "
              f"| {r['apd90_rel_error']:+.2e} | {r['us_per_step']:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
