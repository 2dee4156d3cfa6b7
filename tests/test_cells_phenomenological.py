"""Fenton-Karma, Bueno-Orovio and Barkley: structure, single-cell action potentials against an
adaptive reference and the CellML files, propagation in a cable, gradients.

The full study (every parameter set, table and figure) is validation/phenomenological_models.py.
"""

import functools
import pathlib

import diffrax
import equinox as eqx
import jax
import jax.lax as lax
import jax.numpy as jnp
import myokit
import myokit.formats
import numpy as np
import pytest

import msim
from msim.cells import Barkley, BuenoOrovio, FentonKarma

CELLML = pathlib.Path(__file__).parents[2] / "shared" / "cellml"
needs_cellml = pytest.mark.skipif(
    not (CELLML / "bueno_2007_epi.cellml").exists(),
    reason="the curated CellML files (../shared/cellml) are not available",
)
needs_cvode = pytest.mark.skipif(
    "Sundials: Not found" in str(myokit.system()),
    reason="Myokit's Simulation needs the Sundials (CVODES) library and a C compiler",
)
ZERO = jnp.zeros(())

ALL = (
    [FentonKarma.from_set(name) for name in FentonKarma.parameter_sets]
    + [BuenoOrovio.from_set(name) for name in BuenoOrovio.parameter_sets]
    + [Barkley()]
)
ALL_IDS = (
    [f"FK-{name}" for name in FentonKarma.parameter_sets]
    + [f"BO-{name}" for name in BuenoOrovio.parameter_sets]
    + ["Barkley"]
)
GATED = [FentonKarma.from_set("BR"), FentonKarma.from_set("4a")] + [
    BuenoOrovio.from_set(name) for name in BuenoOrovio.parameter_sets
]


@functools.partial(jax.jit, static_argnames=("n_steps", "dt"))
def pace_once(cell, n_steps: int, dt: float, amplitude=0.5, duration=1.0):
    """One stimulus of ``amplitude`` (units of du/dt) for ``duration`` from rest, Rush-Larsen
    steps (forward Euler without gates); the voltage at every step, the initial one included."""
    scheme = msim.RushLarsen()
    y0 = cell.initial_state()

    def step(y, n):
        t = n * dt
        i_stim = jnp.where(t + 0.5 * dt < duration, amplitude, 0.0).astype(y.dtype)
        y = scheme.step(cell, t, y, dt, i_stim)
        return y, y[cell.voltage_index]

    _, v = lax.scan(step, y0, jnp.arange(n_steps, dtype=y0.dtype))
    return jnp.concatenate([y0[cell.voltage_index][None], v])


@eqx.filter_jit
def adaptive_reference(cell, t_end, dt_save, amplitude=0.5, duration=1.0):
    """The same ODE by diffrax's adaptive Tsit5 at tight tolerances, sampled every
    ``dt_save``; the step controller is told where the stimulus switches off."""
    n = round(t_end / dt_save)

    def f(t, y, args):
        return cell.rhs(t, y, jnp.where(t < duration, amplitude, 0.0))

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(f),
        diffrax.Tsit5(),
        0.0,
        t_end,
        0.01,
        cell.initial_state(),
        saveat=diffrax.SaveAt(ts=jnp.arange(n + 1, dtype=jnp.float64) * dt_save),
        stepsize_controller=diffrax.PIDController(
            rtol=1e-8, atol=1e-8, jump_ts=jnp.asarray([duration])
        ),
        max_steps=400_000,
    )
    assert sol.ys is not None
    return sol.ys[:, cell.voltage_index]


def apd90(v, dt):
    v = np.asarray(v, np.float64)
    return float(msim.observe.apd(v, np.arange(v.size) * dt, 90))


# --- structure ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ALL, ids=ALL_IDS)
def test_rest_is_a_fixed_point(cell):
    y = cell.initial_state()
    assert y.shape == (cell.n_states,) and y.dtype == jnp.float64
    np.testing.assert_allclose(cell.rhs(ZERO, y, ZERO), 0.0, atol=1e-14)


@pytest.mark.parametrize("cell", [ALL[0], ALL[-5], ALL[-1]], ids=["FK", "BO", "Barkley"])
def test_rhs_is_elementwise_over_a_grid(cell):
    rng = np.random.default_rng(0)
    y = jnp.asarray(rng.uniform(0.0, 1.0, (cell.n_states, 3, 4, 2)))
    y = y.at[0].set(jnp.asarray(rng.uniform(-0.05, 1.6, (3, 4, 2))))
    i_stim = jnp.asarray(rng.uniform(0, 1, (3, 4, 2)))
    out = cell.rhs(ZERO, y, i_stim)
    assert out.shape == y.shape
    for a, b, c in [(0, 0, 0), (1, 2, 0), (2, 3, 1)]:
        one = cell.rhs(ZERO, y[:, a, b, c], i_stim[a, b, c])
        np.testing.assert_allclose(out[:, a, b, c], one, rtol=1e-14, atol=1e-15)
    # A per-cell parameter field broadcasts against the grid.
    name = {"FentonKarma": "tau_si", "BuenoOrovio": "tau_si", "Barkley": "a"}[type(cell).__name__]
    field = eqx.tree_at(lambda m: getattr(m, name), cell, jnp.full((3, 4, 2), getattr(cell, name)))
    np.testing.assert_allclose(field.rhs(ZERO, y, i_stim), out, rtol=1e-14)


@pytest.mark.parametrize(
    "cell", GATED, ids=["FK-BR", "FK-4a", "BO-EPI", "BO-ENDO", "BO-M", "BO-PB"]
)
def test_gate_rates_are_the_gate_derivatives(cell):
    # u sweeps every threshold of every set (u_v, u_c, theta's, u_csi, u_so, u_s).
    u = jnp.linspace(-0.02, 1.6, 163)
    rng = np.random.default_rng(1)
    y = jnp.concatenate([u[None], jnp.asarray(rng.uniform(0, 1, (cell.n_states - 1, u.size)))])
    g_inf, tau = cell.gate_rates(ZERO, y)
    gates = jnp.asarray(cell.gate_indices)
    assert g_inf.shape == tau.shape == (len(cell.gate_indices), u.size)
    assert bool(jnp.all(tau > 0))
    np.testing.assert_allclose(
        (g_inf - y[gates]) / tau, cell.rhs(ZERO, y, ZERO)[gates], rtol=1e-13, atol=1e-16
    )


def test_parameter_sets():
    assert FentonKarma.from_set("3") == FentonKarma.from_set("BR") == FentonKarma()
    assert float(FentonKarma.from_set("GP").tau_d) == pytest.approx(1 / 8.7)
    assert float(FentonKarma.from_set("MLR-I", tau_r=100.0).tau_r) == 100.0
    assert BuenoOrovio.from_set("EPI") == BuenoOrovio()
    assert float(BuenoOrovio.from_set("ENDO").theta_v_minus) == 0.2
    assert float(BuenoOrovio.from_set("M").tau_v2_minus) == 1.4506
    assert float(BuenoOrovio.from_set("PB").u_u) == 1.45
    with pytest.raises(ValueError, match="the sets are"):
        FentonKarma.from_set("LR-II")
    with pytest.raises(ValueError, match="the sets are"):
        BuenoOrovio.from_set("epi")
    for name in ("FentonKarma", "BuenoOrovio", "Barkley"):
        assert name in msim.cells.available()


# --- single cell ----------------------------------------------------------------------------------


def test_bueno_orovio_epi_action_potential():
    """One beat from rest: the paper's EPI APD90 of about 270 ms, the peak near u_u, and the
    adaptive reference of the same ODE within 1%."""
    dt = 0.02
    cell = BuenoOrovio()
    v = pace_once(cell, n_steps=25_000, dt=dt)
    apd = apd90(v, dt)
    assert 260.0 < apd < 285.0
    assert 1.4 < float(v.max()) < 1.55  # V = 85.7 u - 84: a peak of about +40 mV
    assert abs(float(v[-1])) < 0.01  # back at rest within the 500 ms
    ref = adaptive_reference(cell, 500.0, dt)
    assert abs(apd / apd90(ref, dt) - 1) < 0.01


@pytest.mark.parametrize("name", ["BR", "MBR", "MLR-I", "GP"])
def test_fenton_karma_apd_against_an_adaptive_reference(name):
    dt = 0.02
    cell = FentonKarma.from_set(name)
    v = pace_once(cell, n_steps=20_000, dt=dt)
    ref = adaptive_reference(cell, 400.0, dt)
    apd, apd_ref = apd90(v, dt), apd90(ref, dt)
    assert 120.0 < apd_ref < 320.0  # the model's range of APDs (FK 1998, Fig. 2)
    assert abs(apd / apd_ref - 1) < 0.01, (apd, apd_ref)
    assert 0.95 < float(v.max()) < 1.3
    assert abs(float(v[-1])) < 1e-3


def test_barkley_threshold_and_excursion():
    """Above the threshold b/a the cell excites to u = 1, which stays stable while v < a - b
    (v = 1 - exp(-t): at least ln(1/(1 - a + b)) = 1.31 time units); below it, it decays."""
    dt = 0.002
    cell = Barkley()
    v = np.asarray(pace_once(cell, n_steps=5000, dt=dt, amplitude=10.0, duration=0.02))
    assert 0.99 < v.max() < 1.01
    above = np.flatnonzero(v > 0.5)
    assert (above[-1] - above[0]) * dt > np.log(1 / (1 - 0.75 + 0.02))
    assert abs(v[-1]) < 1e-3
    # u0 = 0.9 b/a: subthreshold (amplitude x duration sets u0 to about 0.024 within 0.001).
    below = np.asarray(pace_once(cell, n_steps=500, dt=dt, amplitude=0.024, duration=1.0e-3))
    assert below.max() < 0.02 / 0.75 and abs(below[-1]) < 1e-2


def _myokit_paced(kind: str, y0, t_end: float, dt: float):
    model = myokit.formats.importer("cellml").model(str(CELLML / f"bueno_2007_{kind}.cellml"))
    pace_var = model.get("membrane").add_variable("msim_pace")
    pace_var.set_rhs(0)
    pace_var.set_binding("pace")
    model.get("membrane.i_stim").set_rhs(
        myokit.Multiply(myokit.Name(pace_var), myokit.Name(model.get("membrane.IstimAmplitude")))
    )
    # The file's states are (V, v, w, s); its "V" is u itself (u = alpha V, alpha = 1/mV), so
    # msim's rest state is its state as it is.
    model.set_initial_values([float(x) for x in y0])
    sim = myokit.Simulation(model, myokit.pacing.blocktrain(period=1000.0, duration=1.0))
    sim.set_tolerance(1e-8, 1e-8)
    log = sim.run(t_end + dt / 2, log=["environment.time", "membrane.V"], log_interval=dt)
    return np.asarray(log["environment.time"]), np.asarray(log["membrane.V"])


@needs_cellml
@needs_cvode
@pytest.mark.parametrize("kind", ["epi", "endo"])
def test_bueno_orovio_matches_the_cellml_file(kind):
    """One beat against Myokit's CVODE on bueno_2007_{epi,endo}.cellml (Bueno-Orovio's thesis
    version): APD90 within 1%, peak and trace within 0.01 (u units), although the files differ
    from the paper in small ways (the w gate switches at theta_o, not theta_w; ENDO has
    tau_fi = 0.104 and theta_v^- = 0.024)."""
    dt = 0.02
    cell = BuenoOrovio.from_set(kind.upper())
    t_ref, v_ref = _myokit_paced(kind, cell.initial_state(), 500.0, dt)
    v = np.asarray(pace_once(cell, n_steps=25_000, dt=dt))
    assert v.shape == v_ref.shape
    np.testing.assert_allclose(t_ref, np.arange(v.size) * dt, atol=1e-9)
    assert abs(apd90(v, dt) / apd90(v_ref, dt) - 1) < 0.01
    assert abs(v.max() - v_ref.max()) < 0.01
    assert np.sqrt(np.mean((v - v_ref) ** 2)) < 0.01


# --- tissue ---------------------------------------------------------------------------------------


def cable_velocity(cell, spacing, diffusivity, t_end, dt, amplitude, duration):
    """Conduction velocity between cells 25 and 75 of a 100-cell cable paced at one end."""
    grid = msim.Grid((100,), spacing)
    stim = msim.Stimulus(msim.regions.box((0.0,), (5 * spacing,)), 0.0, duration, amplitude)
    problem = msim.Monodomain(cell, grid, diffusivity, stimulus=stim)
    at = np.asarray(msim.simulate(problem, t_end=t_end, dt=dt).activation_times)
    assert np.all(np.isfinite(at))
    return 50 * spacing / (at[75] - at[25])


def test_cable_conduction_velocities():
    # mm/ms = m/s. Bueno-Orovio et al. report about 0.7 m/s for EPI at D = 1.171 cm^2/s;
    # Fenton-Karma BR at D = 1 cm^2/s is slower.
    cv_bo = cable_velocity(BuenoOrovio(), 0.25, 0.1171, 60.0, 0.02, 0.5, 1.0)
    assert 0.6 < cv_bo < 0.8
    cv_fk = cable_velocity(FentonKarma(), 0.25, 0.1, 80.0, 0.02, 0.5, 1.0)
    assert 0.3 < cv_fk < 0.6
    # Barkley: the bistable front speed sqrt(2 D / eps)(1/2 - b/a) = 4.73 for D = 1, lowered
    # a little by v rising inside the front.
    cv_b = cable_velocity(Barkley(), 0.025, 1.0, 2.0, 0.0001, 10.0, 0.1)
    assert abs(cv_b / (np.sqrt(2 / 0.02) * (0.5 - 0.02 / 0.75)) - 1) < 0.05


# --- gradients ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "name", "t_end"),
    [(BuenoOrovio(), "tau_si", 250.0), (FentonKarma(), "tau_r", 230.0)],
    ids=["BO-tau_si", "FK-tau_r"],
)
def test_gradient_of_late_voltage_matches_finite_differences(cell, name, t_end):
    """d u(t_end) / d parameter through one paced beat (t_end on the repolarisation), reverse
    mode against central differences in float64."""
    dt = 0.02

    def late(p):
        c = eqx.tree_at(lambda m: getattr(m, name), cell, p)
        return pace_once(c, n_steps=round(t_end / dt), dt=dt)[-1]

    p0 = getattr(cell, name)
    grad = float(jax.grad(late)(p0))
    h = 1e-5 * float(p0)
    fd = float((late(p0 + h) - late(p0 - h)) / (2 * h))
    assert abs(grad) * float(p0) > 1e-2  # a real dependence
    assert grad == pytest.approx(fd, rel=1e-4)


def test_barkley_gradient_through_a_cable():
    """The single Barkley cell sits on u = 1 to rounding, so its repolarisation time depends on
    rounding; the front position in a cable does not: d u(x, t) / d a at a cell inside the
    front, through msim.simulate, against central differences."""
    grid = msim.Grid((40,), 0.05)
    stim = msim.Stimulus(msim.regions.box((0.0,), (0.25,)), 0.0, 0.1, 10.0)

    def front(a):
        problem = msim.Monodomain(Barkley(a=a), grid, 1.0, stimulus=stim)
        return msim.simulate(problem, t_end=0.3, dt=0.001).final_state[0, 25]

    a = jnp.asarray(0.75)
    assert 0.1 < float(front(a)) < 0.9  # inside the front
    fd = float((front(a + 1e-5) - front(a - 1e-5)) / 2e-5)
    assert float(jax.grad(front)(a)) == pytest.approx(fd, rel=1e-6)


# --- float32 and recompilation --------------------------------------------------------------------


@pytest.mark.parametrize("cell", [FentonKarma(), BuenoOrovio()], ids=["FK", "BO"])
def test_float32_beat_and_no_recompile(cell):
    """A model with float32 parameters runs in float32 (strict promotion: nothing is promoted)
    with APD90 within 0.5 ms of float64; a new parameter value does not recompile."""
    dt = 0.02
    cell32 = jax.tree.map(lambda x: x.astype(jnp.float32), cell)
    v64 = pace_once(cell, n_steps=20_000, dt=dt)
    v32 = pace_once(cell32, n_steps=20_000, dt=dt)
    assert v32.dtype == jnp.float32 and cell32.initial_state().dtype == jnp.float32
    assert abs(apd90(v32, dt) - apd90(v64, dt)) < 0.5

    before = pace_once._cache_size()
    pace_once(eqx.tree_at(lambda m: m.tau_si, cell, jnp.asarray(30.0)), n_steps=20_000, dt=dt)
    assert pace_once._cache_size() == before
