"""Import every curated CellML model in ../shared/cellml and pace each single cell at 1 Hz.

For each model: import with `msim.cells.from_cellml` (oxmeta voltage and stimulus), then a few
beats at 1 Hz with msim's i_stim (a 2 ms pulse of 40 mV/ms at the start of each beat), Rush-Larsen
with dt = 0.02 ms in float64, one compiled beat function per model. Reports, per model: imported
(or the error), ran (or the error), states, gates, APD90 of the last beat, resting potential
(voltage just before the last stimulus), compile time and time per beat. Each model runs in its
own subprocess with a time limit, two at a time.

    .venv/bin/python validation/cellml_import.py            # all models -> cellml_import.md
    .venv/bin/python validation/cellml_import.py --one FILE  # one model, one JSON line
"""

import argparse
import json
import pathlib
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HERE = pathlib.Path(__file__).parent
CELLML = HERE.parent.parent / "shared" / "cellml"
BEATS, DT, PERIOD, AMPLITUDE, DURATION, SAMPLE_MS = 5, 0.02, 1000.0, 40.0, 2.0, 0.1
LIMIT_S = 240
# Rush-Larsen first (the fast default); the models it cannot run at DT are retried with the
# linearly implicit step, which handles stiff non-gate states (Markov chains, fast buffers).
SCHEMES = {"rush-larsen": "RushLarsen", "rosenbrock": "RosenbrockEuler", "adaptive": None}
ADAPTIVE_RTOL, ADAPTIVE_ATOL = 1e-6, 1e-8


def one(path: pathlib.Path, scheme_name: str = "rush-larsen", dt: float = DT) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.lax as lax
    import jax.numpy as jnp
    import numpy as np

    import msim

    out: dict = {"model": path.stem}
    t0 = time.perf_counter()
    try:
        cell = msim.cells.from_cellml(path)
    except Exception as e:
        out.update(imported=False, error=f"{type(e).__name__}: {e}")
        return out
    out.update(
        imported=True,
        import_s=time.perf_counter() - t0,
        states=cell.n_states,
        gates=len(msim.cells.gate_indices(cell)),
        gate_names=[cell.state_names[i] for i in msim.cells.gate_indices(cell)],
        stimulus=cell.stimulus_variable,
        voltage=cell.state_names[cell.voltage_index],
    )
    if scheme_name == "adaptive":
        return out | adaptive(cell)
    scheme = getattr(msim, SCHEMES[scheme_name])()
    per_sample = round(SAMPLE_MS / dt)  # steps per recorded sample
    n_samples = round(PERIOD / dt) // per_sample

    @jax.jit
    def beat(cell, y, t0):
        def sample(y, k):
            def step(j, y):
                t = t0 + (k * per_sample + j) * dt
                i_stim = jnp.where(t - t0 < DURATION, AMPLITUDE, 0.0)
                return scheme.step(cell, t, y, dt, i_stim)

            y = lax.fori_loop(0, per_sample, step, y)
            return y, y[cell.voltage_index]

        return lax.scan(sample, y, jnp.arange(n_samples, dtype=y.dtype))

    y = cell.initial_state()
    try:
        t1 = time.perf_counter()
        compiled = beat.lower(cell, y, jnp.zeros(())).compile()
        out["compile_s"] = time.perf_counter() - t1
        times, rest = [], float("nan")
        v = np.zeros(0)
        for b in range(BEATS):
            rest = float(y[cell.voltage_index])
            t1 = time.perf_counter()
            y, v = compiled(cell, y, jnp.asarray(b * PERIOD))
            y.block_until_ready()
            times.append(time.perf_counter() - t1)
            if not bool(jnp.all(jnp.isfinite(y))):
                bad = [cell.state_names[i] for i in np.flatnonzero(~np.isfinite(np.asarray(y)))]
                raise FloatingPointError(f"non-finite state in beat {b + 1}: {bad[:3]}")
        v = np.concatenate([[rest], np.asarray(v)])
    except Exception as e:
        out.update(ran=False, error=f"{type(e).__name__}: {str(e)[:300]}")
        return out
    t = np.arange(v.size) * dt * per_sample
    peak = float(v.max())
    level = peak - 0.9 * (peak - rest)
    above = v > level
    apd = float("nan")
    if above.any() and not above[0]:
        up = int(np.argmax(above))
        if (~above[up:]).any():
            down = up + int(np.argmax(~above[up:]))

            def cross(i):
                return t[i - 1] + (level - v[i - 1]) * (t[i] - t[i - 1]) / (v[i] - v[i - 1])

            apd = float(cross(down) - cross(up))
    out.update(
        ran=True,
        apd90=apd,
        rest=rest,
        peak=peak,
        beat_s=float(np.median(times[1:] if len(times) > 1 else times)),
    )
    return out


def _apd90(t, v) -> tuple[float, float, float]:
    """APD90, rest (the first sample) and peak of one beat sampled at times ``t``."""
    import numpy as np

    rest, peak = float(v[0]), float(v.max())
    level = peak - 0.9 * (peak - rest)
    above = v > level
    apd = float("nan")
    if above.any() and not above[0]:
        up = int(np.argmax(above))
        if (~above[up:]).any():
            down = up + int(np.argmax(~above[up:]))

            def cross(i):
                return t[i - 1] + (level - v[i - 1]) * (t[i] - t[i - 1]) / (v[i] - v[i - 1])

            apd = float(cross(down) - cross(up))
    return apd, rest, peak


def adaptive(cell) -> dict:
    """The same protocol with adaptive steps: `msim.protocols.pace` with `msim.Adaptive`
    (diffrax, linearly implicit Rosenbrock23 with the cell's Jacobian, PID step control,
    rtol 1e-6, atol 1e-8, the stimulus edges as jump times)."""
    import numpy as np

    import msim

    t1 = time.perf_counter()
    try:
        r = msim.protocols.pace(
            cell,
            PERIOD,
            BEATS,
            stimulus_amplitude=AMPLITUDE,
            stimulus_duration=DURATION,
            save_every=SAMPLE_MS,
            scheme=msim.Adaptive(rtol=ADAPTIVE_RTOL, atol=ADAPTIVE_ATOL, max_steps=200_000),
            throw=False,
        )
        v = np.asarray(r.v)
        ok = bool(r.result == msim.RESULTS.successful) and bool(np.isfinite(v).all())
    except Exception as e:
        return {"ran": False, "error": f"{type(e).__name__}: {str(e)[:300]}"}
    wall = time.perf_counter() - t1
    if not ok:
        return {"ran": False, "error": f"adaptive: {r.result}", "run_s": wall}
    apd, rest, peak = _apd90(np.asarray(r.t), v[-1])
    return {"ran": True, "apd90": apd, "rest": rest, "peak": peak, "run_s": wall}


def rhs_check(path: pathlib.Path) -> dict:
    """The imported right-hand side against Myokit's ``evaluate_derivatives`` of the same file
    (its stimulus set to zero, as msim does), at the CellML initial state and with the voltage
    raised by 60 mV: the largest relative difference over the states, per state."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import myokit
    import myokit.formats
    import numpy as np

    import msim

    try:
        cell = msim.cells.from_cellml(path)
    except Exception as e:
        return {"error": f"import: {type(e).__name__}"}
    model = myokit.formats.importer("cellml").model(str(path))
    if cell.stimulus_variable:
        model.get(cell.stimulus_variable).set_rhs(0)
    program = cell._program
    scale = np.ones(cell.n_states)
    scale[cell.voltage_index] = program.voltage_factor
    y0 = np.asarray(cell.initial_state())
    out = {}
    for label, dv in (("initial", 0.0), ("v_plus_60", 60.0)):
        y = y0.copy()
        y[cell.voltage_index] += dv
        try:
            ref = np.asarray(model.evaluate_derivatives(list(y / scale)), float)
        except Exception as e:  # Myokit's evaluator raises on, e.g., exp overflow
            out[label] = f"Myokit cannot evaluate: {type(e).__name__}"
            continue
        ref = ref * scale * program.time_factor
        got = np.asarray(cell.rhs(jnp.zeros(()), jnp.asarray(y), jnp.zeros(())))
        if not np.all(np.isfinite(ref)):
            out[label] = "Myokit's value is not finite"
            continue
        out[label] = float(np.max(np.abs(got - ref) / (np.abs(ref) + 1e-12 * (1 + np.abs(y)))))
    return out


def run_one(
    path: pathlib.Path, scheme: str = "rush-larsen", dt: float = DT, limit_s: float = LIMIT_S
) -> dict:
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--one", str(path), "--scheme", scheme, "--dt", str(dt)],
            capture_output=True,
            text=True,
            timeout=limit_s,
        )
    except subprocess.TimeoutExpired:
        return {"model": path.stem, "imported": True, "ran": False, "error": f"over {limit_s} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        tail = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
        return {"model": path.stem, "imported": False, "error": f"crashed: {tail[0][:300]}"}
    return json.loads(lines[-1])


# The retries, in order, for the models that every earlier attempt failed: (record key,
# scheme, dt in ms, time limit in s).
RETRIES = (
    ("rosenbrock", "rosenbrock", DT, LIMIT_S),
    ("rosenbrock_fine", "rosenbrock", 0.005, 600),
    ("adaptive", "adaptive", 0.0, 900),
)


def attempts(r: dict) -> list[dict]:
    """The runs of a model's record in the order they were tried (Rush-Larsen first)."""
    return [r, *(r[key] for key, *_ in RETRIES if key in r)]


def retry(results: list[dict], workers: int) -> None:
    """Rerun every imported model that no earlier attempt could run, stage by stage of
    `RETRIES` (same stimulus and beats); each outcome goes under the stage's key in the
    model's record, and the JSON lines are rewritten."""
    for key, scheme, dt, limit_s in RETRIES:
        failed = [
            r
            for r in results
            if r.get("imported") and key not in r and not any(a.get("ran") for a in attempts(r))
        ]
        with ThreadPoolExecutor(workers) as pool:
            paths = [CELLML / f"{r['model']}.cellml" for r in failed]
            n = len(failed)
            outcomes = pool.map(run_one, paths, [scheme] * n, [dt] * n, [limit_s] * n)
            for r, outcome in zip(failed, outcomes, strict=True):
                keys = ("ran", "error", "apd90", "rest", "peak", "compile_s", "beat_s", "run_s")
                r[key] = {k: outcome[k] for k in keys if k in outcome} | {"dt": dt}
                if scheme == "adaptive":
                    r[key] |= {"rtol": ADAPTIVE_RTOL, "atol": ADAPTIVE_ATOL}
                print(r["model"], key, json.dumps(r[key]), flush=True)
        with open(HERE / "cellml_import.jsonl", "w") as log:
            log.writelines(json.dumps(r) + "\n" for r in results)


def _rhs_cell(r: dict) -> str:
    values = list(r.get("rhs_vs_myokit", {}).values())
    numbers = [v for v in values if isinstance(v, float)]
    text = f"{max(numbers):.0e}" if numbers else ""
    if len(numbers) < len(values):
        text += " (Myokit cannot evaluate the other point)" if numbers else "Myokit cannot evaluate"
    return text


def rhs_summary(results: list[dict]) -> str:
    """One sentence on the right-hand-side comparison of every model with Myokit's."""
    numbers = [
        (v, r["model"])
        for r in results
        for v in r.get("rhs_vs_myokit", {}).values()
        if isinstance(v, float)
    ]
    if not numbers:
        return "(The right-hand sides have not been compared with Myokit's: run --check-rhs.)"
    checked = {m for _, m in numbers}
    worst, worst_model = max(numbers)
    second = max((v for v, m in numbers if m != worst_model), default=0.0)
    return (
        "Translation check (`rhs vs Myokit`): msim's right-hand side against Myokit's "
        "`evaluate_derivatives` of the same file (its stimulus set to zero) at the CellML initial "
        f"state and with V raised by 60 mV, largest relative difference over the states: "
        f"{len(checked)} of {len(results)} models compared, worst {worst:.0e} ({worst_model}"
        + (
            ": a gate derivative of -6.8e-12 /ms at equilibrium, an absolute difference of 7e-18)"
            if worst_model == "noble_model_2001"
            else ")"
        )
        + f", all others below {second:.0e}. Where Myokit's own evaluator raises (an exp "
        "over- or underflow in its Python evaluation) that point is not compared."
    )


def _fmt(x, spec):
    return "" if x is None or x != x else format(x, spec)


FINDINGS = """
## Why models did not run, and what RosenbrockEuler changed (findings of the runs above)

All 79 files import: Myokit parses them, the oxmeta annotations give the voltage (79) and the
stimulus current (all but 7 pacemaker/Purkinje files that have no stimulus: demir, dokos, the
three SAN models, stewart, mcallister; there i_stim is added to dV/dt directly), units are
ms/mV or converted, and every expression translates to JAX. With Rush-Larsen at dt = 0.02 ms,
23 models failed with run-time NaNs in the first beat; diagnosed afterwards (50 ms, same
stimulus, dt 0.02 / 0.005 / 0.001 ms, and the first non-finite intermediate variable):

- **Stiff non-gate states (Markov-chain channels, fast calcium buffering) that forward Euler
  cannot take at 0.02 ms**: carro 2011 endo/epi, grandi 2010 ss/ss_endo, shannon 2004,
  priebe-beuckelmann 1998, viswanathan 1999 (fine with Rush-Larsen at 0.005 ms), ohara-rudy
  CiPA 2017 (fine only at 0.001 ms: its hERG Markov states are not gates), pandit 2001
  endo/epi, pasek 2006, wang-sobie 2008. The first non-finite value was a Nernst potential (log
  of a calcium concentration that Euler drove negative) or the voltage. **All 12 run with
  `msim.RosenbrockEuler` at the same 0.02 ms** (linearly implicit Euler on the non-gate states,
  Rush-Larsen on the gates). Spot checks of its accuracy at 0.02 ms against Rush-Larsen at the
  small steps these models need (first beat, same stimulus): CiPA 2017 APD90 256.1 vs 256.7 ms
  (Rush-Larsen at 0.001 ms), grandi 2010 273.0 vs 273.3 ms (Rush-Larsen at 0.005 ms).
- **Run with RosenbrockEuler at dt = 0.005 ms** (after failing at 0.02 ms): faber-rudy 2000
  (at 0.02 ms its junctional SR calcium went negative within 5 ms: its release flux switches on
  through threshold-tracking states, a non-linearity the linearised step does not follow at
  that step), bondarenko 2004 apical/septal and li 2010 (mouse, Markov states; at 0.02 ms they
  failed in beats 3-4 with Cai/Cass first). Their APD90 of 18-23 ms is the short mouse action
  potential.
- **Needing adaptive steps (issue 12, part 4): iyer 2004, iyer 2007, jafri-rice-winslow 1998,
  winslow 1999, pasek 2008.** Not translation errors, not broken files: Myokit's own CVODES
  (`myokit.Simulation`, Sundials 6.4.1 here) runs each file for 5 beats with this protocol (the
  stimulus current set to give 40 mV/ms for 2 ms every 1000 ms through a pacing protocol), and
  msim's imported right-hand side integrated adaptively (diffrax Kvaerno5, PID control, rtol
  1e-6, atol 1e-8, stimulus edges as jump times; a diagnostic run outside this script) gives
  the same last beat: APD90 320.7 / 321.7 / 199.9 / 95.0 / 160.0 ms against Myokit's 320.7 /
  321.7 / 199.9 / 95.2 / 160.0 ms, rest within 0.01 mV (winslow 1999 alternates between a
  ~95 ms and a ~303 ms action potential from beat to beat in both). The fixed steps fail
  because of one fast non-linearity these Johns Hopkins models share: calcium-induced calcium
  release into a tiny subspace (Ca_SS, volume VSS) through RyR states whose opening rate goes
  as Ca_SS^4 (k_a+ (1000 Ca_SS)^4 C1_RyR). In iyer 2004's first upstroke Ca_SS rises from
  0.0015 to 0.034 mM within 0.5 ms (t = 2.5-3 ms); RosenbrockEuler at dt 0.005 and 0.002 ms
  overshoots this into Ca_SS = -0.0025 mM (the linearisation of a quartic at the start of the
  step), after which the L-type Markov rate gamma = 0.0554 Ca_SS turns negative, the chain's
  occupancies leave [0, 1] (C4 = 1.08, CCa4 = -0.23 at t = 186 ms) and the state becomes
  non-finite; at dt 0.001 and 0.0005 ms it converges to the adaptive solution (RyR O1 at 3.6 ms:
  0.00527 and 0.005268 against 0.005266). Jafri 1998 fails the same way (Ca_SS = -0.0024 mM and
  P_O2 = -0.18 before its NaN at 79 ms with dt 0.005). Rush-Larsen fails earlier still: these
  models have Markov channels (iyer: 66 of 67 states are not Hodgkin-Huxley gates) that forward
  Euler cannot take at these steps. A fixed step of 0.001 ms for 5 beats (5 million implicit
  steps) does not fit the study's time limit; the adaptive path takes ~9 000 accepted steps.
- **bueno 2007 endo (the file's scaling, not msim)**: the voltage of this minimal model is on a
  0-1.55 scale (labelled mV), so a 40 mV/ms pulse drives it past 1.79 within 0.05 ms, where
  the file's tanh, written (exp(2x) - 1)/(exp(2x) + 1) with x = 200 (u - 0.016) in tau_w_minus,
  overflows to inf/inf = NaN. Myokit's CVODES fails at the same point (t = 0.043 ms,
  CV_CONV_FAILURE). The file's own stimulus is 0.5 per ms for 1 ms; with a model-scaled
  amplitude it runs (Myokit with the file's own stimulus: V between 0 and 1.50 over 3 s; not
  run in msim here) (bueno 2007 epi, whose k_w_minus = 65 overflows only above u = 11, runs at
  40 mV/ms but its numbers in the table are on the same 0-1.55 scale).
- **bernus 2002 (a broken file)**: two errors in the file. (1) beta_f = (0.069 exp(-11 (V +
  9.825)) + 0.011) / (1 + exp(-0.278 (V + 9.825))) + 5.75e-4 overflows exp() at rest
  (exp(884) = inf), so the right-hand side is non-finite at the initial state; Myokit's CVODES
  fails at t = 0 too. Four independent public implementations of the model use
  exp(-0.11 (V + 9.825)). (2) dV/dt = -(sum of currents)/Cm with currents in A/F (already per
  capacitance) and Cm = 153.4 pF, so every ionic current acts 153 times too slowly: with only
  the exponent corrected, Myokit's first beat peaks at -6 mV and never repolarises, and CVODES
  fails at t = 2001 ms (V = 97 mV). With both corrected (exponent -0.11, Cm = 1, the stimulus
  still 40 mV/ms) Myokit runs 5 beats: rest -90.05 mV, peak 51.8 mV, APD90 351.9 ms. The file's
  own documentation says "ValidateCellML detects numerous unit inconsistencies within this
  model". msim does not rewrite files.
"""


def report(results: list[dict], wall: float) -> str:
    n = len(results)
    n_imp = sum(r.get("imported", False) for r in results)
    n_rl = sum(r.get("ran", False) for r in results)
    n_rb = sum(r.get("rosenbrock", {}).get("ran", False) for r in results)
    n_fine = sum(r.get("rosenbrock_fine", {}).get("ran", False) for r in results)
    n_adaptive = sum(r.get("adaptive", {}).get("ran", False) for r in results)

    def outcome(r):  # the first run that worked, else the last one tried
        runs = attempts(r)
        return next((a for a in runs if a.get("ran")), runs[-1])

    n_ap = sum(
        outcome(r).get("ran", False) and _fmt(outcome(r).get("apd90"), "") != "" for r in results
    )
    lines = [
        "# CellML import study: the 79 curated models of ../shared/cellml",
        "",
        f"**Imported: {n_imp} of {n}. Ran {BEATS} beats: {n_rl + n_rb + n_fine + n_adaptive} "
        f"of {n} ({n_rl} with Rush-Larsen at dt = {DT} ms, {n_rb} more with RosenbrockEuler at "
        f"the same dt, {n_fine} more with RosenbrockEuler at dt = 0.005 ms, {n_adaptive} more "
        f"with adaptive steps, msim.Adaptive at rtol {ADAPTIVE_RTOL:g}). An action potential "
        f"with an APD90 in the last beat: {n_ap} of {n}.**",
        "",
        f"Generated by `validation/cellml_import.py` ({wall / 60:.1f} min on the 2-core CPU for "
        "the Rush-Larsen pass). Each model: `msim.cells.from_cellml(file)` with the oxmeta "
        f"voltage and stimulus; {BEATS} beats at 1 Hz, i_stim = {AMPLITUDE:g} mV/ms for "
        f"{DURATION:g} ms at the start of each beat; dt = {DT} ms, float64; one compile per "
        "model. First with `msim.RushLarsen` (Hodgkin-Huxley gates exact for frozen rates, "
        "forward Euler on the rest); the models it cannot run are retried with "
        "`msim.RosenbrockEuler` (the same gates, linearly implicit Euler on the other states), "
        "first at the same dt, then at dt = 0.005 ms, and the models no fixed step ran are run "
        "with adaptive steps (`msim.protocols.pace` with `msim.Adaptive(rtol="
        f"{ADAPTIVE_RTOL:g}, atol={ADAPTIVE_ATOL:g})`: diffrax, the linearly implicit "
        "Rosenbrock23 with the cell's Jacobian, PID step control, stimulus edges as jump "
        "times; for these the s/beat column is the whole run, compilation included, over the "
        "beats). APD90 and peak from the last beat (voltage sampled every 0.1 ms, linear "
        "interpolation at 90% repolarisation); rest = voltage just before the last stimulus. "
        "Compile and beat times on the 2-core CPU with two models running at once. These are "
        "not compared with reference values here (validation/cells_vs_myokit.md compares the "
        "hand-written models with Myokit on the same files); a blank APD90 means no "
        "repolarisation to the 90% level inside the beat.",
        "",
        "",
        rhs_summary(results),
        "",
        "| model | imported | ran | states | gates | APD90 (ms) | rest (mV) | peak (mV) "
        "| compile (s) | s/beat | rhs vs Myokit |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: r["model"].lower()):
        imported = "yes" if r.get("imported") else "no: " + r.get("error", "")
        best = outcome(r)
        if not r.get("imported"):
            ran = ""
        elif r.get("ran"):
            ran = "yes"
        elif best.get("ran") and "rtol" in best:
            ran = (
                f"with adaptive steps, rtol {best['rtol']:g} (fixed steps: Rush-Larsen "
                f"{r.get('error', '')}; RosenbrockEuler at dt 0.005: "
                f"{r.get('rosenbrock_fine', {}).get('error', '')})"
            )
        elif best.get("ran"):
            ran = f"with RosenbrockEuler, dt {best['dt']} (Rush-Larsen: {r.get('error', '')})"
        else:
            ran = "no: " + best.get("error", "")
            if best is not r:
                ran += (
                    f" (also failed: RosenbrockEuler down to dt 0.005; Rush-Larsen: "
                    f"{r.get('error', '')})"
                )
        lines.append(
            f"| {r['model']} | {imported} | {ran} | {r.get('states', '')} | {r.get('gates', '')} "
            f"| {_fmt(best.get('apd90'), '.1f')} | {_fmt(best.get('rest'), '.2f')} "
            f"| {_fmt(best.get('peak'), '.1f')} | {_fmt(best.get('compile_s'), '.1f')} "
            f"| {_fmt(best.get('beat_s', best.get('run_s', float('nan')) / BEATS), '.2f')} "
            f"| {_rhs_cell(r)} |"
        )
    return "\n".join(lines) + "\n" + FINDINGS


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--one", type=pathlib.Path)
    parser.add_argument("--scheme", choices=sorted(SCHEMES), default="rush-larsen")
    parser.add_argument("--dt", type=float, default=DT)
    parser.add_argument(
        "--check-rhs",
        action="store_true",
        help="compare every imported right-hand side with Myokit's and rewrite the report",
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="rerun the models that every recorded attempt failed with the next retry of "
        "RETRIES (RosenbrockEuler at dt 0.02, then 0.005 ms, then adaptive steps), and "
        "rewrite the report",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--report", type=float, help="minutes the run took: rewrite the report")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.scheme, args.dt)), flush=True)
        return
    if args.report or args.retry_failed or args.check_rhs:
        with open(HERE / "cellml_import.jsonl") as log:
            results = [json.loads(line) for line in log]
        if args.retry_failed:
            retry(results, args.workers)
        if args.check_rhs:
            for r in results:
                r["rhs_vs_myokit"] = rhs_check(CELLML / f"{r['model']}.cellml")
                print(r["model"], r["rhs_vs_myokit"], flush=True)
            with open(HERE / "cellml_import.jsonl", "w") as log:
                log.writelines(json.dumps(r) + "\n" for r in results)
        minutes = args.report or float(results[0].get("study_minutes", 0.0))
        (HERE / "cellml_import.md").write_text(report(results, minutes * 60))
        return
    files = sorted(CELLML.glob("*.cellml"))
    t0 = time.perf_counter()
    results = []
    with (
        ThreadPoolExecutor(args.workers) as pool,
        open(HERE / "cellml_import.jsonl", "w") as log,
    ):
        for r in pool.map(run_one, files):
            results.append(r)
            log.write(json.dumps(r) + "\n")
            log.flush()
            print(json.dumps({k: v for k, v in r.items() if k != "gate_names"}), flush=True)
    retry(results, args.workers)
    for r in results:
        r["rhs_vs_myokit"] = rhs_check(CELLML / f"{r['model']}.cellml")
    with open(HERE / "cellml_import.jsonl", "w") as log:
        log.writelines(json.dumps(r) + "\n" for r in results)
    (HERE / "cellml_import.md").write_text(report(results, time.perf_counter() - t0))


if __name__ == "__main__":
    main()
