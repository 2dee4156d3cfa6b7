"""Aliev-Panfilov 2D plane wave: msim against Finitewave and Myokit's OpenCL tissue simulation.

The problem (the same in every simulator, float64): Aliev-Panfilov with k = 8, a = 0.1,
eps0 = 0.01, mu1 = 0.2, mu2 = 0.3 on a 256 x 256 grid of spacing dx = 0.25, diffusivity
D = 1, no-flux edges, no stimulus; at t = 0, u = 1 on the first three columns and 0
elsewhere, v = 0. dt = 0.01 (inside the explicit diffusion limit dx^2 / (4 D) = 0.0156, so
no simulator sub-steps), t_end = 32 (3200 steps: the front passes column 192 at t ~ 30.4).

    du/dt = D (u_xx + u_yy) - k u (u - a)(u - 1) - u v
    dv/dt = (eps0 + mu1 v / (u + mu2)) (-v - k u (u - a - 1))

Schemes (all explicit, first order in dt, the same 5-point Laplacian):

- msim: Godunov splitting, a forward Euler reaction step, then one explicit diffusion step of
  the reacted u; cell-centred no-flux edges (the flux through the outer faces is zero).
- Finitewave (`finitewave.AlievPanfilov` on a `CardiacTissue` of 258 x 258 whose outer ring
  is its non-tissue border): forward Euler of reaction and diffusion together from the same
  state; at an edge the missing neighbour's weight goes to the opposite one (vertex-centred
  no-flux).
- Myokit `SimulationOpenCL((256, 256), precision=double)` on the model written below in
  .mmt: forward Euler of reaction and diffusion together. Myokit's diffusion term is the
  current ``i_diff = gx (2u - u_left - u_right) + gy (2u - u_down - u_up)`` bound to
  ``diffusion_current`` and subtracted from du/dt, with the missing neighbour at an edge
  replaced by u itself (cell-centred no-flux), so ``gx = gy = D / dx^2 = 16`` gives
  ``-i_diff = D * (5-point Laplacian)`` exactly; ``set_step_size(dt)``.

Speed: cell-steps per second (256^2 x steps / median wall time of a whole run, warm).
Interleaved repeats; msim compiled first (its first call minus the median is
``msim_compile_s``); Finitewave's numba kernels and Myokit's C module and OpenCL kernel are
built by a warm-up (``peer_warmup_s``). Each timed run also records what its agreement
needs: msim tracks activation times on the whole grid (its default), Finitewave a two-cell
probe tracker (every step), Myokit a two-cell log (every step).

Agreement: the plane-wave conduction velocity, from the first upward crossings of u = 0.5,
linearly interpolated between steps, at columns 64 and 192 of the middle row (row 128): CV =
(192 - 64) dx / (t_192 - t_64), in space units per time unit. Every simulator is measured
the same way; msim's crossings are its online ``Solution.activation_times``. The schemes
differ at O(dt), so CVs are also given at smaller dt, with the dt -> 0 limit extrapolated
linearly from the two smallest steps (``cv_*_dt0``): there the simulators should meet.

Needs: msim's environment, plus Finitewave (``pip install -e ".[bench]"`` then
``pip install --no-deps finitewave==0.9.3``; its metadata pins numpy<2, which jax rejects,
but it runs on numpy 2) and, for Myokit's OpenCL, ``apt-get install pocl-opencl-icd
ocl-icd-opencl-dev`` (PoCL: OpenCL on the CPU). A peer that is missing gets a
``{"case", "peer", "skipped"}`` line.

Run from the repository root (about 45 s on 2 CPU cores with ``--threads 1``; ``--quick``:
a 64 x 64 smoke run, seconds):

    python benchmarks/peers/ap2d.py [--quick] [--threads 1] [--repeats 3]
        [--peers finitewave myokit_opencl]

``--threads 1`` pins the whole run to one core (all three simulators then run on one thread):
on a machine shared with other work, every simulator's multi-threaded steps wait on busy
cores, Finitewave's and PoCL's per-step thread barriers most of all (a 64 x 64 Finitewave run
took 0.7 s on one thread and 18-20 s on two while another process kept a core busy).
"""

import argparse
import textwrap

import numpy as np
from _common import (
    add_threads_argument,
    configure_threads,
    emit,
    extrapolate,
    finitewave,
    finitewave_probe_tracker,
    first_crossing as crossing,
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
    velocity,
    version,
)

THREADS = configure_threads()  # before jax, numba and OpenCL start their thread pools
jax = setup_jax()
import jax.numpy as jnp  # noqa: E402

import msim  # noqa: E402

CASE = "ap2d"
DX, D = 0.25, 1.0
PARAMS = {"k": 8.0, "a": 0.1, "eps0": 0.01, "mu1": 0.2, "mu2": 0.3}
THRESHOLD = 0.5
STIM_COLUMNS = 3

MMT = textwrap.dedent(
    """\
    [[model]]
    name: aliev_panfilov
    c.u = 0
    c.v = 0

    [engine]
    time = 0 bind time
    pace = 0 bind pace

    [c]
    i_diff = 0 bind diffusion_current
    k = {k}
    a = {a}
    eps0 = {eps0}
    mu1 = {mu1}
    mu2 = {mu2}
    dot(u) = -k * u * (u - a) * (u - 1) - u * v - i_diff
        label membrane_potential
    dot(v) = (eps0 + mu1 * v / (u + mu2)) * (-v - k * u * (u - a - 1))
    """
).format(**PARAMS)


class Setup:
    def __init__(self, n: int, t_end: float):
        self.n, self.t_end = n, t_end
        self.row = n // 2
        self.cols = (n // 4, 3 * n // 4)
        self.distance = (self.cols[1] - self.cols[0]) * DX

    def steps(self, dt: float) -> int:
        return round(self.t_end / dt)

    def cv(self, t_a: float, t_b: float) -> float:
        return velocity(self.distance, t_a, t_b)

    def problem(self) -> dict:
        return {
            "model": "Aliev-Panfilov",
            **PARAMS,
            "grid": [self.n, self.n],
            "dx": DX,
            "D": D,
            "t_end": self.t_end,
            "dtype": "float64",
            "initial_state": f"u = 1 on columns 0-{STIM_COLUMNS - 1}, else 0; v = 0",
            "edges": "no flux",
            "stimulus": None,
            "cv_cells": [[self.row, c] for c in self.cols],
            "cv_threshold": THRESHOLD,
        }


# --- msim ------------------------------------------------------------------------------------


def msim_runner(s: Setup):
    cell = msim.cells.AlievPanfilov(**{k: jnp.float64(v) for k, v in PARAMS.items()})
    grid = msim.Grid(shape=(s.n, s.n), spacing=DX)
    y0 = np.zeros((2, s.n, s.n))
    y0[0, :, :STIM_COLUMNS] = 1.0
    problem = msim.Monodomain(cell, grid, diffusivity=jnp.float64(D), initial_state=jnp.asarray(y0))
    save = msim.Save(every=None, snapshots=False)

    def run(dt: float):
        sol = msim.simulate(problem, t_end=s.t_end, dt=dt, save=save)
        jax.block_until_ready(sol)
        at = np.asarray(sol.activation_times)
        return s.cv(at[s.row, s.cols[0]], at[s.row, s.cols[1]])

    return run


# --- Finitewave ------------------------------------------------------------------------------


def finitewave_runner(fw, s: Setup):
    cells = [(s.row + 1, c + 1) for c in s.cols]  # mesh indices: a one-cell border around

    def run(dt: float, t_end: float | None = None):
        tissue = fw.CardiacTissue((s.n + 2, s.n + 2))
        model = fw.AlievPanfilov()
        model.cardiac_tissue = tissue
        model.dt, model.dr, model.D_model = dt, DX, D
        model.t_max = s.t_end if t_end is None else t_end
        model.prog_bar = False
        model.a, model.k, model.eps, model.mu1, model.mu2 = (
            PARAMS[p] for p in ("a", "k", "eps0", "mu1", "mu2")
        )
        u0 = np.zeros((s.n + 2, s.n + 2))
        u0[1:-1, 1 : 1 + STIM_COLUMNS] = 1.0
        model.init_u = u0
        probe = finitewave_probe_tracker(fw, cells)
        trackers = fw.TrackerSequence()
        trackers.add_tracker(probe)
        model.tracker_sequence = trackers
        model.run()
        trace = probe.output
        t = np.arange(trace.shape[0]) * dt
        if t_end is not None:
            return model.step
        if model.step != s.steps(dt):
            raise RuntimeError(f"Finitewave took {model.step} steps, expected {s.steps(dt)}")
        return s.cv(crossing(t, trace[:, 0], THRESHOLD), crossing(t, trace[:, 1], THRESHOLD))

    return run


# --- Myokit OpenCL ---------------------------------------------------------------------------


def myokit_runner(myokit, s: Setup):
    model = myokit.parse_model(MMT)
    sim = myokit.SimulationOpenCL(model, ncells=(s.n, s.n), precision=myokit.DOUBLE_PRECISION)
    g = D / DX**2
    sim.set_conductance(g, g)
    # States ordered with x (the column) fastest: (row, column, state).
    y0 = np.zeros((s.n, s.n, 2))
    y0[:, :STIM_COLUMNS, 0] = 1.0
    sim.set_default_state(y0.reshape(-1).tolist())
    keys = [f"{c}.{s.row}.c.u" for c in s.cols]

    def run(dt: float, t_end: float | None = None):
        sim.reset()
        sim.set_step_size(dt)
        if t_end is not None:
            sim.run(t_end, log=myokit.LOG_NONE)
            return None
        d = sim.run(s.t_end, log=["engine.time", *keys], log_interval=dt)
        t = np.asarray(d["engine.time"])
        if len(t) != s.steps(dt):
            raise RuntimeError(f"Myokit logged {len(t)} samples, expected {s.steps(dt)}")
        # The log holds t = 0 .. t_end - dt; the last step's crossing would be missed, but
        # the front passes the probes long before.
        return s.cv(*(crossing(t, np.asarray(d[k]), THRESHOLD) for k in keys))

    return run


# --- main ------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--t-end", type=float, default=32.0)
    parser.add_argument("--dt", type=float, default=0.01, help="the timed step")
    parser.add_argument("--msim-dts", type=float, nargs="*", default=[0.005, 0.0025])
    parser.add_argument("--myokit-dts", type=float, nargs="*", default=[0.005, 0.0025])
    parser.add_argument("--finitewave-dts", type=float, nargs="*", default=[0.005])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--peers", nargs="*", default=["finitewave", "myokit_opencl"], help="which peers"
    )
    parser.add_argument("--quick", action="store_true", help="64 x 64, t_end 12, one repeat")
    add_threads_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.size, args.t_end, args.repeats = 64, 12.0, 1
        args.msim_dts, args.myokit_dts, args.finitewave_dts = [0.005], [0.005], [0.005]

    s = Setup(args.size, args.t_end)
    dt = args.dt
    cells = s.n * s.n
    log(f"{CASE}: {s.n} x {s.n}, dt {dt}, t_end {s.t_end} ({s.steps(dt)} steps)")

    runners, notes, warmup = {}, {}, {}
    msim_run = msim_runner(s)
    msim_first, _ = timed(lambda: msim_run(dt))
    log(f"msim first call (compile + run): {msim_first:.2f} s")

    if "finitewave" in args.peers:
        fw, reason = finitewave()
        if fw is None:
            skipped(CASE, "finitewave", reason)
        else:
            run_fw = finitewave_runner(fw, s)
            warmup["finitewave"], _ = timed(lambda: run_fw(dt, t_end=10 * dt))
            runners["finitewave"] = run_fw
            notes["finitewave"] = {
                "peer_version": version("finitewave"),
                "peer_setup": "AlievPanfilov on CardiacTissue((n + 2, n + 2)), numba on all "
                "cores; forward Euler of reaction + diffusion from the same state",
                "peer_dts": args.finitewave_dts,
            }
    if "myokit_opencl" in args.peers:
        myokit, reason = myokit_module()
        reason = reason or opencl_reason(myokit)
        if reason:
            skipped(CASE, "myokit_opencl", reason)
        else:
            quiet_opencl_precision_warning()
            seconds, run_mk = timed(lambda: myokit_runner(myokit, s))
            w, _ = timed(lambda: run_mk(dt, t_end=10 * dt))
            warmup["myokit_opencl"] = seconds + w
            runners["myokit_opencl"] = run_mk
            info = myokit.OpenCL.info()
            notes["myokit_opencl"] = {
                "peer_version": version("myokit"),
                "peer_setup": "SimulationOpenCL(ncells=(n, n), precision=double), "
                f"set_conductance({D / DX**2:g}, {D / DX**2:g}), set_step_size(dt); "
                "forward Euler of reaction + diffusion from the same state",
                "opencl_device": info.platforms[0].devices[0].name if info.platforms else None,
                "peer_dts": args.myokit_dts,
            }

    functions = {"msim": lambda: msim_run(dt)}
    functions.update({name: (lambda r=r: r(dt)) for name, r in runners.items()})
    medians, all_times, results = interleaved(functions, args.repeats)
    msim_s = medians["msim"]
    steps = s.steps(dt)

    log("msim step-size convergence")
    cv_msim = {dt: results["msim"]}
    for h in args.msim_dts:
        cv_msim[h] = msim_run(h)
        log(f"  msim dt {h}: CV {cv_msim[h]:.6f}")
    base = {
        "case": CASE,
        "problem": s.problem(),
        "dt": dt,
        "steps": steps,
        "repeats": args.repeats,
        "msim_scheme": "Godunov: forward Euler reaction, then explicit 5-point diffusion; "
        "cell-centred no-flux edges",
        "msim_compile_s": max(msim_first - msim_s, 0.0),
        "msim_s": msim_s,
        "msim_times_s": all_times["msim"],
        "msim_cell_steps_per_s": cells * steps / msim_s,
        "cv_msim": cv_msim[dt],
        "cv_msim_by_dt": {str(h): v for h, v in sorted(cv_msim.items())},
        "cv_msim_dt0": extrapolate(cv_msim),
        "threads": THREADS,
        "machine": machine(),
    }

    for name, run in runners.items():
        log(f"{name} step-size convergence")
        cv_peer = {dt: results[name]}
        for h in notes[name]["peer_dts"]:
            cv_peer[h] = run(h)
            log(f"  {name} dt {h}: CV {cv_peer[h]:.6f}")
        peer_s = medians[name]
        record = {
            **base,
            "peer": name,
            **{k: v for k, v in notes[name].items() if k != "peer_dts"},
            "peer_warmup_s": warmup[name],
            "peer_s": peer_s,
            "peer_times_s": all_times[name],
            "peer_cell_steps_per_s": cells * steps / peer_s,
            "msim_speedup": peer_s / msim_s,
            "cv_peer": cv_peer[dt],
            "cv_rel_diff": relative(cv_msim[dt], cv_peer[dt]),
            "cv_peer_by_dt": {str(h): v for h, v in sorted(cv_peer.items())},
            "cv_peer_dt0": extrapolate(cv_peer) if len(cv_peer) > 1 else None,
        }
        if record["cv_peer_dt0"] is not None:
            record["cv_dt0_rel_diff"] = relative(base["cv_msim_dt0"], record["cv_peer_dt0"])
        emit(record)


if __name__ == "__main__":
    main()
