"""Tissue ensembles of fibrosis realisations (issue 10): per-member diffusivity fields through
`msim.ensemble.simulate` equal individual `msim.simulate` runs, a blocked column stops the
wave, and observables come back per member."""

import jax.numpy as jnp
import numpy as np
import pytest

import msim

SHAPE, SPACING, DT, T_END = (24, 8), 0.5, 0.05, 25.0
COLUMNS = (4, 18)  # the blocked member's wall sits between them
WALL = 12


def _problem(diffusivity=1.0):
    grid = msim.Grid(SHAPE, SPACING)
    s1 = msim.Stimulus(msim.regions.box((0.0, 0.0), (1.0, SHAPE[1] * SPACING)), duration=1.0)
    return msim.Monodomain(msim.cells.AlievPanfilov(), grid, diffusivity, stimulus=s1)


def _fields() -> np.ndarray:
    """0%, 10% and 20% diffuse fibrosis (seeded), and a non-conducting column."""
    out = []
    for k, density in enumerate((0.0, 0.1, 0.2)):
        rng = np.random.default_rng([7, k])
        f = np.ones(SHAPE[0] * SHAPE[1])
        f[rng.choice(f.size, round(density * f.size), replace=False)] = 0.0
        out.append(f.reshape(SHAPE))
    wall = np.ones(SHAPE)
    wall[WALL, :] = 0.0
    return np.stack([*out, wall])


def _observables(sol, problem):
    profile = jnp.nanmedian(sol.activation_times, axis=1)
    cv = msim.observe.mean_conduction_velocity(profile, SPACING, (COLUMNS[0],), (COLUMNS[1],))
    return {"profile": profile, "cv": cv, "d_max": jnp.max(problem.conductivity.diffusivity)}


@pytest.fixture(scope="module")
def ensemble():
    fields = _fields()
    save = msim.Save(snapshots=False)
    # Chunks of 3: the second is padded, and both run the one compiled program.
    res = msim.ensemble.simulate(
        _problem(),
        {"conductivity.diffusivity": fields},
        T_END,
        DT,
        save,
        observables=_observables,
        chunk_size=3,
        progress=False,
    )
    singles = [msim.simulate(_problem(f), T_END, DT, save) for f in fields]
    return fields, res, singles


def test_fibrosis_members_equal_individual_runs(ensemble):
    fields, res, singles = ensemble
    assert res.successful.all() and res.info["n_chunks"] == 2
    at = res["activation_times"]
    assert at.shape == (len(fields), *SHAPE)
    for i, sol in enumerate(singles):
        ref = np.asarray(sol.activation_times)
        np.testing.assert_array_equal(np.isnan(at[i]), np.isnan(ref))
        np.testing.assert_allclose(at[i], ref, rtol=0, atol=1e-12)
    # Fibrotic (D = 0) cells are isolated and unstimulated here: they never activate.
    fibrotic = fields == 0
    fibrotic[:, :2] = False  # the stimulated columns (x <= 1) do fire, each cell on its own
    assert fibrotic.any() and np.isnan(at[fibrotic]).all()


def test_a_blocked_column_stops_the_wave(ensemble):
    _, res, _ = ensemble
    at = res["activation_times"][-1]
    assert np.isfinite(at[:WALL]).all()
    assert np.isnan(at[WALL:]).all()
    assert np.isnan(res["cv"][-1])


def test_observables_are_per_member(ensemble):
    fields, res, singles = ensemble
    n = len(fields)
    assert res["profile"].shape == (n, SHAPE[0]) and res["cv"].shape == (n,)
    np.testing.assert_array_equal(res["d_max"], fields.reshape(n, -1).max(axis=1))
    for i, sol in enumerate(singles):
        ref = _observables(sol, _problem(fields[i]))
        np.testing.assert_allclose(res["cv"][i], ref["cv"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(res["profile"][i], ref["profile"], rtol=0, atol=1e-12)
    cv = res["cv"][:-1]
    # Fibrosis slows the planar wave; the uniform member has the plain sheet's speed.
    assert np.all(np.isfinite(cv)) and np.all(np.diff(cv) < 0)
    plain = _observables(
        msim.simulate(_problem(1.0), T_END, DT, msim.Save(snapshots=False)), _problem()
    )
    np.testing.assert_allclose(cv[0], plain["cv"], rtol=1e-12)
