"""ten Tusscher-Panfilov 2006 epicardial cable: msim against Finitewave and Myokit's cable
simulations (C `Simulation1d` and `SimulationOpenCL`).

The problem (float64 everywhere): 200 TP06 epi cells in a line, dx = 0.1 mm (a 20 mm cable),
monodomain diffusivity D = 0.154 mm^2/ms, no-flux ends, 500 ms at dt = 0.01 ms (50 000
steps; every simulator accepts it: the explicit diffusion limit is dx^2 / (2 D) = 0.032 ms),
all cells starting from the CellML file's initial state. Stimulus: 52 uA/uF (= mV/ms,
depolarising) on the first five cells (0-0.5 mm) from t = 0 for 1 ms.

    dV/dt = D V_xx - I_ion(V, s) + I_stim,    ds/dt = f(V, s)

Schemes: every simulator updates the twelve Hodgkin-Huxley gates by Rush-Larsen and the
other states by forward Euler.

- msim: `TenTusscherPanfilov2006(cell_type="epi")`, Godunov splitting (the Rush-Larsen
  reaction step, then one explicit diffusion step); a step is stimulated when its midpoint
  lies in the pulse (100 steps).
- Finitewave: `TenTusscherPanfilov2006` (its own implementation, epi conductances) on a 3 x
  202 `CardiacTissue` whose outer ring is non-tissue (one row of 200 cells: a cable);
  `StimCurrentCoord` of 52 on the first five cells, which adds dt * 52 to V at each step
  while t < 1 ms by its clock (101 steps: its check comes after the step's stimulus);
  reaction and diffusion from the same state; initial state set to the CellML one.
- Myokit: the CellML file (/work/shared/cellml/ten_tusscher_model_2006_epi.cellml) with
  ``i_Stim = pace * stim_amplitude`` (-52 uA/uF) and ``dV/dt = ... - i_diff``, where
  ``i_diff`` is bound to ``diffusion_current = g (2 V - V_left - V_right)`` (a missing
  neighbour at an end counts as V: no flux), so ``g = D / dx^2 = 15.4 mS/uF`` makes
  ``-i_diff = D V_xx``. `Simulation1d(model, protocol, 200, rl=True)` and
  `SimulationOpenCL(model, protocol, 200, rl=True, precision=double)`, both with
  ``set_conductance(15.4)``, ``set_paced_cells(5)``, ``set_step_size(0.01)``; the protocol
  is one pulse of level 1 from 0 to 1 ms. Reaction and diffusion from the same state.

Speed: cell-steps per second (200 x 50 000 / median wall time of a whole 500 ms run, warm).
Interleaved repeats; msim compiled first (``msim_compile_s``); the peers' kernels and C
modules built by a warm-up (``peer_warmup_s``). Each timed run records what the agreement
needs: msim its online activation times and 0.1 ms probe traces of cells 50, 100 and 150;
the peers V at those cells after every step.

Agreement: conduction velocity between cells 50 and 150 (10 mm over the difference of their
activation times, the first upward crossings of -40 mV interpolated linearly between steps,
in mm/ms), and APD90 at cell 100 (`msim.observe.apd` on the trace sampled every 0.1 ms in
every simulator). The CV is also measured at dt = 0.005 and 0.0025 ms (30 ms runs) for msim,
Finitewave and Myokit's Simulation1d, with the dt -> 0 limit extrapolated linearly from the
two smallest steps: the schemes differ at O(dt), the upstroke makes it large here.

Needs: msim's environment; Finitewave (``pip install -e ".[bench]"``, then ``pip install
--no-deps finitewave==0.9.3``: its metadata pins numpy<2, which jax rejects, but it runs on
numpy 2); the CellML file (MSIM_CELLML_DIR overrides the folder); a C compiler for Myokit's
Simulation1d; for its OpenCL ``apt-get install pocl-opencl-icd ocl-icd-opencl-dev``. A missing
peer gets a ``{"case", "peer", "skipped"}`` line.

Run from the repository root (about 3.5 minutes on 2 CPU cores, most of it Myokit's
OpenCL, which launches kernels every step; ``--quick``: 50 ms, one repeat, no OpenCL):

    python benchmarks/peers/tp06_cable.py [--quick] [--threads 1] [--repeats 3]
        [--peers finitewave myokit_cable myokit_opencl]
"""

import argparse

import numpy as np
from _common import (
    add_threads_argument,
    configure_threads,
    emit,
    extrapolate,
    finitewave,
    finitewave_probe_tracker,
    first_crossing,
    interleaved,
    log,
    machine,
    myokit_module,
    opencl_reason,
    quiet_opencl_precision_warning,
    relative,
    setup_jax,
    skipped,
    timed,
    tp06_myokit_model,
    tp06_reason,
    velocity,
    version,
)

THREADS = configure_threads()  # before jax, numba and OpenCL start their thread pools
jax = setup_jax()

import msim  # noqa: E402

CASE = "tp06_cable"
N, DX, D = 200, 0.1, 0.154
STIM_CELLS, STIM_AMPLITUDE, STIM_DURATION = 5, 52.0, 1.0
PROBES = (50, 100, 150)
THRESHOLD = -40.0  # msim's TenTusscherPanfilov2006.activation_threshold, mV
SAMPLE = 0.1  # ms between the samples APD90 is measured on
CONVERGENCE_T_END = 30.0  # ms: the front passes cell 150 at about 21 ms

# msim's state names -> Finitewave's.
FINITEWAVE_STATES = {
    "V": "u", "Ki": "ki", "Nai": "nai", "Cai": "cai", "CaSR": "casr", "CaSS": "cass",
    "R_prime": "rr", "Xr1": "xr1", "Xr2": "xr2", "Xs": "xs", "m": "m", "h": "h", "j": "j",
    "d": "d", "f": "f", "f2": "f2", "fCass": "fcass", "s": "s", "r": "r",
}  # fmt: skip


def apd90(t: np.ndarray, v: np.ndarray) -> float:
    return float(msim.observe.apd(np.asarray(v, np.float64), np.asarray(t, np.float64), 90))


def agreement(t: np.ndarray, traces: np.ndarray) -> dict:
    """CV and APD90 from every-step traces ``(n_times, 3)`` of the probe cells."""
    t_a, t_b = (first_crossing(t, traces[:, k], THRESHOLD) for k in (0, 2))
    every = round(SAMPLE / (t[1] - t[0]))
    sampled = t[::every].size >= 2  # not so in the warm-up runs
    return {
        "cv": velocity((PROBES[2] - PROBES[0]) * DX, t_a, t_b),
        "apd90": apd90(t[::every], traces[::every, 1]) if sampled else float("nan"),
    }


# --- msim ------------------------------------------------------------------------------------


def msim_runner():
    cell = msim.cells.TenTusscherPanfilov2006(cell_type="epi")
    grid = msim.Grid(shape=(N,), spacing=DX)
    stimulus = msim.Stimulus(
        region=msim.regions.box(lo=(0.0,), hi=(STIM_CELLS * DX,)),
        start=0.0,
        duration=STIM_DURATION,
        amplitude=STIM_AMPLITUDE,
    )
    problem = msim.Monodomain(cell, grid, diffusivity=D, stimulus=stimulus)
    assert int(np.asarray(problem.stimulus_masks).sum()) == STIM_CELLS

    def run(dt: float, t_end: float, traces: bool = True):
        every = SAMPLE if traces else t_end
        save = msim.Save(every=every, probes=[(p,) for p in PROBES], snapshots=False)
        sol = msim.simulate(problem, t_end=t_end, dt=dt, save=save)
        jax.block_until_ready(sol)
        at = np.asarray(sol.activation_times)
        out = {"cv": velocity((PROBES[2] - PROBES[0]) * DX, at[PROBES[0]], at[PROBES[2]])}
        if traces:
            out["apd90"] = apd90(np.asarray(sol.ts), np.asarray(sol.traces[1, 0]))
        return out

    return run, cell


# --- Finitewave ------------------------------------------------------------------------------


def finitewave_runner(fw, y0: dict[str, float]):
    cells = [(1, p + 1) for p in PROBES]  # mesh indices: one non-tissue cell around

    def run(dt: float, t_end: float):
        model = fw.TenTusscherPanfilov2006()
        model.cardiac_tissue = fw.CardiacTissue((3, N + 2))
        model.dt, model.dr, model.D_model, model.t_max = dt, DX, D, t_end
        model.prog_bar = False
        for name, value in y0.items():
            setattr(model, "init_" + FINITEWAVE_STATES[name], value)
        stims = fw.StimSequence()
        stims.add_stim(
            fw.StimCurrentCoord(0.0, STIM_AMPLITUDE, STIM_DURATION, 1, 2, 1, 1 + STIM_CELLS)
        )
        model.stim_sequence = stims
        probe = finitewave_probe_tracker(fw, cells)
        trackers = fw.TrackerSequence()
        trackers.add_tracker(probe)
        model.tracker_sequence = trackers
        model.run()
        trace = probe.output
        if model.step != round(t_end / dt):
            raise RuntimeError(f"Finitewave took {model.step} steps, expected {t_end / dt:g}")
        return agreement(np.arange(trace.shape[0]) * dt, trace)

    return run


# --- Myokit ----------------------------------------------------------------------------------


def myokit_runner(myokit, kind: str):
    model = tp06_myokit_model(myokit, tissue=True)
    v = model.label("membrane_potential").qname()
    time_var = model.binding("time").qname()
    protocol = myokit.Protocol()
    protocol.schedule(1.0, 0.0, STIM_DURATION)
    if kind == "myokit_cable":
        sim = myokit.Simulation1d(model, protocol, ncells=N, rl=True)
    else:
        sim = myokit.SimulationOpenCL(
            model, protocol, ncells=N, rl=True, precision=myokit.DOUBLE_PRECISION
        )
    sim.set_conductance(D / DX**2)
    sim.set_paced_cells(STIM_CELLS)
    keys = [f"{p}.{v}" for p in PROBES]

    def run(dt: float, t_end: float):
        sim.reset()
        sim.set_step_size(dt)
        d = sim.run(t_end, log=[time_var, *keys], log_interval=dt)
        t = np.asarray(d[time_var])
        if abs(len(t) - t_end / dt) > 1:
            raise RuntimeError(f"Myokit logged {len(t)} samples, expected {t_end / dt:g}")
        return agreement(t, np.stack([np.asarray(d[k]) for k in keys], axis=1))

    return run


# --- main ------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--t-end", type=float, default=500.0)
    parser.add_argument("--dt", type=float, default=0.01, help="the timed step (ms)")
    parser.add_argument("--convergence-dts", type=float, nargs="*", default=[0.005, 0.0025])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--peers", nargs="*", default=["finitewave", "myokit_cable", "myokit_opencl"]
    )
    parser.add_argument("--quick", action="store_true", help="50 ms, one repeat, no OpenCL")
    add_threads_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.t_end, args.repeats, args.convergence_dts = 50.0, 1, [0.005]
        args.peers = [p for p in args.peers if p != "myokit_opencl"]
    dt, t_end = args.dt, args.t_end
    steps = round(t_end / dt)
    log(f"{CASE}: {N} cells, dt {dt} ms, {t_end} ms ({steps} steps)")

    msim_run, cell = msim_runner()
    y0 = dict(zip(cell.state_names, np.asarray(cell.initial_state()).tolist(), strict=True))
    msim_first, _ = timed(lambda: msim_run(dt, t_end))
    log(f"msim first call (compile + run): {msim_first:.2f} s")

    runners, notes, warmup = {}, {}, {}
    if "finitewave" in args.peers:
        fw, reason = finitewave()
        if fw is None:
            skipped(CASE, "finitewave", reason)
        else:
            run_fw = finitewave_runner(fw, y0)
            warmup["finitewave"], _ = timed(lambda: run_fw(dt, 10 * dt))
            runners["finitewave"] = run_fw
            notes["finitewave"] = {
                "peer_version": version("finitewave"),
                "peer_setup": "TenTusscherPanfilov2006 on CardiacTissue((3, 202)), "
                "StimCurrentCoord(0, 52, 1) on the first 5 cells (101 steps), CellML initial "
                "state; Rush-Larsen gates, forward Euler otherwise, reaction and diffusion "
                "from the same state",
            }
    for kind in ("myokit_cable", "myokit_opencl"):
        if kind not in args.peers:
            continue
        myokit, reason = myokit_module()
        reason = reason or tp06_reason(myokit)
        if not reason and kind == "myokit_opencl":
            reason = opencl_reason(myokit)
        if reason:
            skipped(CASE, kind, reason)
            continue
        quiet_opencl_precision_warning()
        try:
            seconds, run_mk = timed(lambda m=myokit, k=kind: myokit_runner(m, k))
            w, _ = timed(lambda r=run_mk: r(dt, 10 * dt))
        except Exception as e:  # no C compiler, OpenCL build failure: say so
            skipped(CASE, kind, f"{type(e).__name__}: {e}")
            continue
        warmup[kind] = seconds + w
        runners[kind] = run_mk
        sim = "Simulation1d" if kind == "myokit_cable" else "SimulationOpenCL(precision=double)"
        notes[kind] = {
            "peer_version": version("myokit"),
            "peer_setup": f"{sim} on the CellML TP06 epi model, rl=True, "
            f"set_conductance({D / DX**2:g}), set_paced_cells(5), set_step_size(dt); "
            "Rush-Larsen gates, forward Euler otherwise, reaction and diffusion from the "
            "same state",
        }

    functions = {"msim": lambda: msim_run(dt, t_end)}
    functions.update({name: (lambda r=r: r(dt, t_end)) for name, r in runners.items()})
    medians, all_times, results = interleaved(functions, args.repeats)
    msim_s = medians["msim"]

    log("step-size convergence of the CV (30 ms runs)")
    cv = {name: {dt: results[name]["cv"]} for name in functions}
    for name, run in {"msim": lambda h, t: msim_run(h, t, traces=False), **runners}.items():
        if name == "myokit_opencl":
            continue  # the same arithmetic as Simulation1d (equal CVs at dt), 40x slower here
        for h in args.convergence_dts:
            cv[name][h] = run(h, CONVERGENCE_T_END)["cv"]
            log(f"  {name} dt {h}: CV {cv[name][h]:.6f}")

    base = {
        "case": CASE,
        "problem": {
            "model": "ten Tusscher-Panfilov 2006 epi",
            "cells": N,
            "dx_mm": DX,
            "D_mm2_per_ms": D,
            "t_end_ms": t_end,
            "dtype": "float64",
            "stimulus": f"{STIM_AMPLITUDE} uA/uF on cells 0-{STIM_CELLS - 1}, 0-{STIM_DURATION} ms",
            "edges": "no flux",
            "cv_cells": [PROBES[0], PROBES[2]],
            "cv_threshold_mV": THRESHOLD,
            "apd_cell": PROBES[1],
        },
        "dt": dt,
        "steps": steps,
        "repeats": args.repeats,
        "msim_scheme": "Godunov: Rush-Larsen reaction, then explicit diffusion",
        "msim_compile_s": max(msim_first - msim_s, 0.0),
        "msim_s": msim_s,
        "msim_times_s": all_times["msim"],
        "msim_cell_steps_per_s": N * steps / msim_s,
        "cv_msim": results["msim"]["cv"],
        "apd90_msim": results["msim"]["apd90"],
        "cv_msim_by_dt": {str(h): v for h, v in sorted(cv["msim"].items())},
        "cv_msim_dt0": extrapolate(cv["msim"]) if len(cv["msim"]) > 1 else None,
        "threads": THREADS,
        "machine": machine(),
    }
    for name in runners:
        peer_s = medians[name]
        record = {
            **base,
            "peer": name,
            **notes[name],
            "peer_warmup_s": warmup[name],
            "peer_s": peer_s,
            "peer_times_s": all_times[name],
            "peer_cell_steps_per_s": N * steps / peer_s,
            "msim_speedup": peer_s / msim_s,
            "cv_peer": results[name]["cv"],
            "cv_rel_diff": relative(results["msim"]["cv"], results[name]["cv"]),
            "apd90_peer": results[name]["apd90"],
            "apd90_diff_ms": results["msim"]["apd90"] - results[name]["apd90"],
        }
        if len(cv[name]) > 1:
            record["cv_peer_by_dt"] = {str(h): v for h, v in sorted(cv[name].items())}
            record["cv_peer_dt0"] = extrapolate(cv[name])
            if base["cv_msim_dt0"] is not None:
                record["cv_dt0_rel_diff"] = relative(base["cv_msim_dt0"], record["cv_peer_dt0"])
        emit(record)


if __name__ == "__main__":
    main()
