"""O'Hara-Rudy 2011 (endo, epi, M): structure, agreement with Myokit on the CellML files, gates,
gradients, registry.

The CellML files ``ohara_rudy_2011_{endo,epi}.cellml`` differ only in the constant
``environment.celltype`` (0 endo, 1 epi); the M cell is the same model with ``celltype = 2``.
"""

import functools
import pathlib

import jax
import jax.numpy as jnp
import myokit
import myokit.formats
import numpy as np
import pytest
from helpers import assert_beat_matches, myokit_paced_simulation, rush_larsen_pace as pace

import msim
from msim.cells import OHaraRudy2011

CELLML = pathlib.Path(__file__).parents[2] / "shared" / "cellml"
needs_cellml = pytest.mark.skipif(
    not (CELLML / "ohara_rudy_2011_endo.cellml").exists(),
    reason="the curated CellML files (../shared/cellml) are not available",
)
needs_cvode = pytest.mark.skipif(
    "Sundials: Not found" in str(myokit.system()),
    reason="Myokit's Simulation needs the Sundials (CVODES) library and a C compiler",
)
CELL_TYPES = pytest.mark.parametrize("cell_type", ["endo", "epi", "M"])
CELLTYPE_VAR = "environment.celltype"
CELLTYPE_CODE = {"endo": 0, "epi": 1, "M": 2}
# The file's stimulus: membrane.Istim = i_Stim_Amplitude (-80 uA/uF) for i_Stim_PulseDuration
# (0.5 ms) every i_Stim_Period from i_Stim_Start; msim's i_stim = +80 mV/ms for 0.5 ms.
STIM_VAR, AMPLITUDE_VAR, STIM, DURATION = "membrane.Istim", "membrane.i_Stim_Amplitude", 80.0, 0.5
# The Myokit variable of each msim state, in `state_names` order.
MYOKIT_STATES = (
    "membrane.v",
    "CaMK.CaMKt",
    *(
        f"intracellular_ions.{s}"
        for s in ("nai", "nass", "ki", "kss", "cass", "cansr", "cajsr", "cai")
    ),
    *(f"INa.{s}" for s in ("m", "hf", "hs", "j", "hsp", "jp")),
    *(f"INaL.{s}" for s in ("mL", "hL", "hLp")),
    *(f"Ito.{s}" for s in ("a", "iF", "iS", "ap", "iFp", "iSp")),
    *(f"ICaL.{s}" for s in ("d", "ff", "fs", "fcaf", "fcas", "jca", "ffp", "fcafp", "nca")),
    "IKr.xrf",
    "IKr.xrs",
    "IKs.xs1",
    "IKs.xs2",
    "IK1.xk1",
    "ryr.Jrelnp",
    "ryr.Jrelp",
)
DT = 0.01  # Rush-Larsen step of the beat comparisons (ms)
N_STEPS = 100_000  # one 1000 ms beat
ZERO = jnp.zeros(())


@functools.cache
def myokit_model(cell_type: str):
    """The CellML file of ``cell_type`` (the endo file with celltype = 2 for M)."""
    name = "epi" if cell_type == "epi" else "endo"
    model = myokit.formats.importer("cellml").model(str(CELLML / f"ohara_rudy_2011_{name}.cellml"))
    model.get(CELLTYPE_VAR).set_rhs(CELLTYPE_CODE[cell_type])
    return model


def _order(model) -> list[int]:
    names = [v.qname() for v in model.states()]
    return [names.index(s) for s in MYOKIT_STATES]


@functools.cache
def msim_beat(cell_type: str) -> np.ndarray:
    cell = OHaraRudy2011(cell_type=cell_type)
    return np.asarray(pace(cell, cell.initial_state(), STIM, N_STEPS, DT, duration=DURATION))


@functools.cache
def myokit_simulation():
    """One compiled CVODE simulation of the endo file, its stimulus replaced by ``pace *
    i_Stim_Amplitude`` (``celltype`` is set per run: the files differ only there)."""
    return myokit_paced_simulation(myokit_model("endo"), STIM_VAR, AMPLITUDE_VAR, DURATION)


def myokit_beat(cell_type: str) -> tuple[np.ndarray, np.ndarray]:
    sim = myokit_simulation()
    sim.reset()
    sim.set_constant(CELLTYPE_VAR, CELLTYPE_CODE[cell_type])
    log = sim.run(N_STEPS * DT + DT / 2, log=["environment.time", "membrane.v"], log_interval=DT)
    return np.asarray(log["environment.time"]), np.asarray(log["membrane.v"])


def test_structure_variants_and_registry():
    cell = OHaraRudy2011()
    assert cell.cell_type == "endo"
    assert cell.n_states == 41 and cell.initial_state().shape == (41,)
    assert len(cell.gate_indices) == 28
    assert [cell.state_names[i] for i in cell.gate_indices] == [
        "m",
        "hf",
        "hs",
        "j",
        "hsp",
        "jp",
        "mL",
        "hL",
        "hLp",
        "a",
        "iF",
        "iS",
        "ap",
        "iFp",
        "iSp",
        "d",
        "ff",
        "fs",
        "fcaf",
        "fcas",
        "jca",
        "ffp",
        "fcafp",
        "xrf",
        "xrs",
        "xs1",
        "xs2",
        "xk1",
    ]
    assert "OHaraRudy2011" in msim.cells.available()
    assert msim.cells.OHaraRudy2011 is OHaraRudy2011
    endo, epi, m = (OHaraRudy2011(cell_type=c) for c in ("endo", "epi", "M"))
    assert float(endo.GKr) == 0.046 and float(epi.GKr) == 0.046 * 1.3
    assert float(m.GKr) == 0.046 * 0.8
    assert float(endo.Gto) == 0.02 and float(epi.Gto) == float(m.Gto) == 0.02 * 4.0
    assert float(m.Jrel_inf_scale) == 1.7 and float(epi.upScale) == 1.3
    assert float(OHaraRudy2011(cell_type="M", GKr=0.01).GKr) == 0.01
    with pytest.raises(ValueError, match="cell_type must be one of"):
        OHaraRudy2011(cell_type="mid")


def _test_states(model, order: list[int], voltages) -> np.ndarray:
    """Myokit state vectors (columns) at ``voltages``: the initial state, then a perturbed one
    (gates inside (0, 1), CaMK partly trapped, release under way), each at every voltage."""
    y0 = np.asarray(model.initial_values(as_floats=True))
    y1 = y0.copy()
    rng = np.random.default_rng(0)
    gates = [order[i] for i in OHaraRudy2011.gate_indices]
    y1[gates] = rng.uniform(0.05, 0.95, len(gates))
    for name, value in (
        ("CaMK.CaMKt", 0.3),
        ("ICaL.nca", 0.2),
        ("ryr.Jrelnp", 0.01),
        ("ryr.Jrelp", 0.02),
        ("intracellular_ions.cass", 3e-4),
        ("intracellular_ions.cajsr", 0.8),
    ):
        y1[order[MYOKIT_STATES.index(name)]] = value
    cols = []
    for y in (y0, y1):
        for v in voltages:
            y = y.copy()
            y[order[0]] = v
            cols.append(y)
    return np.stack(cols, axis=1)


@needs_cellml
@CELL_TYPES
def test_rhs_matches_myokit_derivatives(cell_type):
    """Every derivative equals Myokit's evaluation of the CellML file across the voltage range
    and beside the GHK factors' removable singularity at V = 0; at and just inside it (where the
    file's own formula is 0/0 or loses digits) msim's value interpolates Myokit's at +-0.1 uV."""
    model = myokit_model(cell_type)
    order = _order(model)
    cell = OHaraRudy2011(cell_type=cell_type)
    y_ref = np.asarray(model.initial_values(as_floats=True))
    np.testing.assert_array_equal(cell.initial_state(), y_ref[order])

    voltages = (-95.0, -87.0, -60.0, -40.0, -20.0, -1e-3, 1e-3, 10.0, 45.0)
    ys = _test_states(model, order, voltages)
    got = np.asarray(cell.rhs(ZERO, jnp.asarray(ys[order]), ZERO))  # all columns in one call
    for k in range(ys.shape[1]):
        expected = np.asarray(model.evaluate_derivatives(ys[:, k]))[order]
        np.testing.assert_allclose(got[:, k], expected, rtol=1e-10, atol=1e-15)

    h = 1e-4
    singular = (0.0, 1e-7, -1e-7)
    ys = _test_states(model, order, (-h, h, *singular))  # five columns per state
    got = np.asarray(cell.rhs(ZERO, jnp.asarray(ys[order]), ZERO))
    assert np.all(np.isfinite(got))
    for k in (0, 5):  # the initial and the perturbed state
        lo, hi = (np.asarray(model.evaluate_derivatives(ys[:, k + i]))[order] for i in (0, 1))
        for i, v in enumerate(singular):
            expected = lo + (v + h) / (2 * h) * (hi - lo)
            np.testing.assert_allclose(got[:, k + 2 + i], expected, rtol=1e-8, atol=1e-14)


@CELL_TYPES
def test_gate_rates_are_the_gate_derivatives_and_elementwise(cell_type):
    cell = OHaraRudy2011(cell_type=cell_type)
    gates = jnp.asarray(cell.gate_indices)
    y = jnp.broadcast_to(cell.initial_state()[:, None], (41, 10))
    y = y.at[0].set(jnp.linspace(-110.0, 60.0, 10))
    y = y.at[gates].set(jax.random.uniform(jax.random.key(0), (28, 10), dtype=y.dtype))
    g_inf, tau = cell.gate_rates(ZERO, y)
    assert g_inf.shape == tau.shape == (28, 10)
    assert bool(jnp.all(tau > 0)) and bool(jnp.all((g_inf >= 0) & (g_inf <= 1)))
    i_stim = jnp.linspace(0.0, 80.0, 10)
    dy = cell.rhs(ZERO, y, i_stim)
    assert dy.shape == (41, 10)
    np.testing.assert_allclose((g_inf - y[gates]) / tau, dy[gates], rtol=1e-12, atol=1e-15)
    for k in (0, 4, 9):
        np.testing.assert_allclose(dy[:, k], cell.rhs(ZERO, y[:, k], i_stim[k]), rtol=1e-13)
        np.testing.assert_allclose(
            g_inf[:, k], cell.gate_rates(ZERO, y[:, k])[0], rtol=1e-13, atol=1e-300
        )
    # Per-cell parameter fields broadcast against the grid (ko also enters the gate rates).
    field = OHaraRudy2011(
        cell_type=cell_type, GKr=jnp.full((10,), float(cell.GKr)), ko=jnp.full((10,), 5.4)
    )
    np.testing.assert_allclose(field.rhs(ZERO, y, i_stim), dy, rtol=1e-13)
    np.testing.assert_allclose(field.gate_rates(ZERO, y)[1], tau, rtol=1e-13)


@CELL_TYPES
def test_rates_have_finite_gradients_at_the_removable_singularity(cell_type):
    """d/dV of every derivative and time constant is finite at and around V = 0 (the GHK
    factors' 0/0), and continuous across the series window."""
    cell = OHaraRudy2011(cell_type=cell_type)
    y0 = cell.initial_state().at[jnp.asarray(cell.gate_indices)].set(0.5)

    def total(v):
        y = y0.at[0].set(v)
        return cell.rhs(ZERO, y, ZERO).sum() + cell.gate_rates(ZERO, y)[1].sum()

    singular = jnp.asarray([0.0, 1e-7, -1e-7, 3e-5])
    g = np.asarray(jax.vmap(jax.grad(total))(singular))
    g_side = np.asarray(jax.vmap(jax.grad(total))(singular + 1e-3))
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, g_side, rtol=1e-2)


@needs_cellml
@needs_cvode
@CELL_TYPES
def test_one_beat_matches_myokit(cell_type):
    """One beat from the CellML initial state against Myokit's CVODE on the CellML file
    (tolerance 1e-8), Rush-Larsen at dt = 0.01 ms: APD90 within 1%, the voltage at 1000 ms
    within 0.5 mV, the peak within 2 mV, RMS below 1 mV."""
    t_ref, v_ref = myokit_beat(cell_type)
    assert_beat_matches(cell_type, msim_beat(cell_type), t_ref, v_ref, DT, (200.0, 500.0))


def test_float32_beat_and_no_recompile():
    """A float32 beat stays float32 and close to float64; a new conductance does not
    recompile."""
    cell = OHaraRudy2011()
    y0 = cell.initial_state().astype(jnp.float32)
    v64 = msim_beat("endo")
    v32 = pace(cell, y0, STIM, N_STEPS, DT, duration=DURATION)
    assert v32.dtype == jnp.float32
    t = np.arange(v64.size) * DT
    apd64, apd32 = (float(msim.observe.apd(np.asarray(x, np.float64), t, 90)) for x in (v64, v32))
    print(f"float32 APD90 {apd32:.3f} vs float64 {apd64:.3f} ms")
    assert abs(apd32 - apd64) < 1.0
    assert abs(float(v32[-1]) - v64[-1]) < 0.1

    before = pace._cache_size()
    pace(OHaraRudy2011(GKr=0.05), y0, STIM, N_STEPS, DT, duration=DURATION)
    assert pace._cache_size() == before
