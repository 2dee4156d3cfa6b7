"""Shared helpers of the peer benchmarks: JSON lines, interleaved timing, threshold crossings,
step-size extrapolation, peer availability and the Myokit TP06 model built from CellML.

Not a benchmark itself; the scripts beside it import it (run them from the repository root,
``python benchmarks/peers/NAME.py``: the script's folder is on ``sys.path``).
"""

import importlib.metadata
import json
import math
import os
import pathlib
import statistics
import sys
import time
import warnings
from collections.abc import Callable

import numpy as np

# The curated CellML files live in shared/ beside the repository (as for tests/ and
# validation/); MSIM_CELLML_DIR overrides.
CELLML = pathlib.Path(
    os.environ.get("MSIM_CELLML_DIR", pathlib.Path(__file__).parents[3] / "shared" / "cellml")
)
TP06_EPI = CELLML / "ten_tusscher_model_2006_epi.cellml"

FINITEWAVE_INSTALL = (
    'pip install -e ".[bench]" && pip install --no-deps "finitewave==0.9.3" '
    "(see benchmarks/peers/README.md: finitewave 0.9.3 declares numpy<2, which jax rejects)"
)


def configure_threads(argv: list[str] | None = None) -> int | None:
    """Apply ``--threads N`` from the command line before any simulator is imported: pin the
    process to N cores (every simulator's threads then share them) and size Numba's and
    PoCL's thread pools to N. Returns N, or None (no flag: each simulator's default, all
    cores). Must run before jax, numba or an OpenCL platform is loaded."""
    argv = sys.argv[1:] if argv is None else argv
    n = None
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            n = int(argv[i + 1])
        elif arg.startswith("--threads="):
            n = int(arg.split("=", 1)[1])
    if not n:
        return None
    cores = sorted(os.sched_getaffinity(0))
    if n > len(cores):
        raise SystemExit(f"--threads {n}: only {len(cores)} cores are available")
    os.sched_setaffinity(0, cores[:n])
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "POCL_MAX_PTHREAD_COUNT"):
        os.environ[var] = str(n)
    os.environ["POCL_CPU_MAX_CU_COUNT"] = str(n)  # PoCL >= 4 names it so
    return n


def add_threads_argument(parser) -> None:
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="pin the run to this many cores and size every simulator's thread pool to it "
        "(default: each simulator's own default, all cores). Read before the imports.",
    )


def setup_jax():
    """float64 everywhere, and JAX's backend initialised now: initialised after a Myokit
    simulation has compiled (Myokit redirects the standard streams while it compiles), JAX's
    backend probe logs to a closed stream."""
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.devices()
    return jax


def _plain(x):
    """JSON-safe: NaN and infinities become null, NumPy scalars Python numbers."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def emit(record: dict) -> None:
    """One JSON line on stdout, flushed (NaN written as null)."""
    print(json.dumps(_plain(record), allow_nan=False), flush=True)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def skipped(case: str, peer: str, reason: str) -> None:
    log(f"{case}: {peer} skipped: {reason}")
    emit({"case": case, "peer": peer, "skipped": reason})


def version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine() -> dict:
    import jax

    return {
        "device": jax.devices()[0].device_kind,
        "cpu_count": os.cpu_count(),
        "cores_used": len(os.sched_getaffinity(0)),
        # Other processes' load when the record was written (1, 5, 15 min averages).
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "msim": version("msim"),
        "msim_commit": _commit(),
        "jax": version("jax"),
    }


def _commit() -> str | None:
    """The checked-out commit (read only; the work tree may hold changes on top of it)."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=pathlib.Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def timed(f: Callable[[], object]) -> tuple[float, object]:
    """Wall time of one call of ``f`` and its result. ``f`` must return host values (NumPy
    arrays, floats) or block on its device results itself."""
    start = time.perf_counter()
    out = f()
    return time.perf_counter() - start, out


def interleaved(
    functions: dict[str, Callable[[], object]], repeats: int
) -> tuple[dict[str, float], dict[str, list[float]], dict[str, object]]:
    """Each function ``repeats`` times, round-robin (so that load from other processes hits
    all alike): the median seconds, every time, and the last result of each. Warm-up
    (compilation) is the caller's business and is done before."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    results: dict[str, object] = {}
    for r in range(repeats):
        for name, f in functions.items():
            seconds, results[name] = timed(f)
            times[name].append(seconds)
            log(f"  repeat {r + 1}/{repeats} {name}: {seconds:.3f} s")
    return {name: statistics.median(ts) for name, ts in times.items()}, times, results


def first_crossing(t: np.ndarray, u: np.ndarray, threshold: float) -> float:
    """First upward crossing of ``threshold`` by the sampled ``u``, linearly interpolated:
    the rule of msim's online activation times (``u_k < threshold <= u_k+1``). NaN if none."""
    t, u = np.asarray(t, np.float64), np.asarray(u, np.float64)
    hits = np.flatnonzero((u[:-1] < threshold) & (u[1:] >= threshold))
    if hits.size == 0:
        return math.nan
    k = hits[0]
    return float(t[k] + (t[k + 1] - t[k]) * (threshold - u[k]) / (u[k + 1] - u[k]))


def velocity(distance: float, t_a: float, t_b: float) -> float:
    return float(distance / (t_b - t_a))


def extrapolate(by_dt: dict[float, float]) -> float:
    """The ``dt -> 0`` limit of a first-order quantity from its two smallest-step values
    (linear extrapolation in dt: Richardson's ``2 q(dt/2) - q(dt)`` for a halving)."""
    (h1, q1), (h2, q2) = sorted(by_dt.items())[:2]
    return float(q1 - (q2 - q1) * h1 / (h2 - h1))


def relative(a: float, b: float) -> float:
    """``a / b - 1``."""
    return float(a / b - 1.0)


# --- peers -----------------------------------------------------------------------------------


def finitewave():
    """The finitewave module, or None with the reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import finitewave
    except ImportError as e:
        return None, f"finitewave is not installed ({e}); install: {FINITEWAVE_INSTALL}"
    return finitewave, None


def finitewave_probe_tracker(fw, cells: list[tuple[int, ...]]):
    """A Finitewave tracker recording ``u`` at ``cells`` (mesh indices) at t = 0 and after
    every step; ``.output`` is ``(n_steps + 1, len(cells))``. Finitewave's own activation
    tracker records the first step past the threshold over the whole mesh, without
    interpolation; this one lets every simulator's crossings be interpolated alike."""

    class ProbeTracker(fw.Tracker):
        def initialize(self, model):
            self.model = model
            self.values = [[float(model.u[c]) for c in cells]]

        def _track(self):
            # Called after the step's diffusion and ionic kernels, before the buffers swap:
            # the new values are in u_new.
            self.values.append([float(self.model.u_new[c]) for c in cells])

        @property
        def output(self):
            return np.asarray(self.values)

    return ProbeTracker()


def myokit_module():
    try:
        import myokit
        import myokit.formats
    except ImportError as e:
        return None, f"myokit is not installed ({e}); pip install myokit"
    return myokit, None


def cvodes_reason(myokit) -> str | None:
    """Why Myokit's CVODES simulation cannot run here, or None."""
    if "Sundials: Not found" in str(myokit.system()):
        return (
            "Myokit's Simulation (CVODES) needs the Sundials library: apt-get install "
            "libsundials-dev"
        )
    return None


def opencl_reason(myokit) -> str | None:
    """Why Myokit's OpenCL simulation cannot run here, or None."""
    try:
        ok = myokit.OpenCL.supported()
    except Exception as e:  # Myokit raises several kinds when no platform loads
        ok, detail = False, str(e)
    else:
        detail = "no OpenCL platform found"
    if not ok:
        return (
            f"Myokit's SimulationOpenCL needs an OpenCL platform ({detail}): on a CPU, "
            "apt-get install pocl-opencl-icd ocl-icd-opencl-dev"
        )
    return None


def quiet_opencl_precision_warning():
    # PoCL's CPU device computes in double but does not list cl_khr_fp64 among its
    # extensions, so Myokit warns on every run (results agree with float64 Finitewave to
    # 1e-9, see README.md).
    warnings.filterwarnings("ignore", message="The OpenCL extension cl_khr_fp64")


def tp06_myokit_model(myokit, tissue: bool):
    """The CellML TP06 epi model for Myokit, stimulated through ``pace`` (``i_Stim = pace *
    stim_amplitude``, -52 uA/uF, so a protocol level of 1 is the usual pulse). With
    ``tissue``, also the ``diffusion_current`` input (``dV/dt = ... - i_diff``), the
    ``membrane_potential`` label, and components made independent, as Myokit's tissue
    simulations need."""
    model = myokit.formats.importer("cellml").model(str(TP06_EPI))
    membrane = model.get("membrane")
    pace = membrane.add_variable("pace")
    pace.set_rhs(0)
    pace.set_binding("pace")
    membrane.get("i_Stim").set_rhs(
        myokit.Multiply(myokit.Name(pace), myokit.Name(membrane.get("stim_amplitude")))
    )
    if tissue:
        i_diff = membrane.add_variable("i_diff")
        i_diff.set_rhs(0)
        i_diff.set_binding("diffusion_current")
        v = membrane.get("V")
        v.set_rhs(myokit.Minus(v.rhs(), myokit.Name(i_diff)))
        v.set_label("membrane_potential")
        model.resolve_interdependent_components()
    return model


def tp06_reason(myokit) -> str | None:
    if not TP06_EPI.exists():
        return f"the CellML file {TP06_EPI} is missing (set MSIM_CELLML_DIR)"
    return None
