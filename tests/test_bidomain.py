"""The bidomain: reduction to the monodomain for equal anisotropy ratios, the elliptic solve
against a manufactured solution (second order), gradients against finite differences, the
references and their errors, shocks, electrograms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import msim
from msim.tissue import Fibres

LAM = 2.5  # D_e = LAM * D_i: equal anisotropy ratios


def test_equal_ratios_reduce_to_the_monodomain():
    """D_e = lambda D_i: the bidomain V_m is the monodomain's with D = lambda/(1+lambda) D_i,
    to solver tolerance (the same sub-steps for both), and its recovered phi_e is
    -(V_m - mean V_m) / (1 + lambda) on the tissue. Fibres (GMRES: the fibre stencil is not
    symmetric) on an L-shaped tissue (a mask)."""
    mask = np.ones((10, 8), bool)
    mask[6:, 5:] = False
    grid = msim.Grid((10, 8), spacing=0.5, mask=mask)
    di = Fibres.from_angle(0.4, 1.0, 0.25)
    de = Fibres.from_angle(0.4, LAM * 1.0, LAM * 0.25)
    dm = Fibres.from_angle(0.4, LAM / (1 + LAM), LAM / (1 + LAM) * 0.25)
    cell = msim.cells.AlievPanfilov()
    stim = msim.Stimulus(msim.regions.box((0, 0), (1.0, 2.0)), 0.0, 1.0, 1.0)
    save = msim.Save(every=0.5)
    scheme = msim.ExplicitDiffusion(substeps=2)
    bi = msim.Bidomain(cell, grid, di, de, stimulus=stim)
    mono = msim.Monodomain(cell, grid, dm, stimulus=stim)
    sb = msim.simulate(bi, 3.0, 0.05, save, diffusion=scheme)
    sm = msim.simulate(mono, 3.0, 0.05, save, diffusion=scheme)
    tissue = grid.mask_array()
    vb, vm = np.asarray(sb.snapshot()), np.asarray(sm.snapshot())
    assert vm[-1][tissue].max() > 0.5  # the wave is under way: not a trivial comparison
    assert np.abs(vb - vm)[:, tissue].max() < 1e-8
    stats = sb.linear_solves
    assert stats is not None and not bool(stats.failed)
    assert int(stats.solves) == 60 * 2  # one elliptic solve per sub-step
    phi = np.asarray(bi.extracellular_potential(sb.snapshot(), sb.ts))
    mean = vb[:, tissue].mean(axis=1)[:, None]
    expected = -(vb[:, tissue] - mean) / (1 + LAM)
    assert np.abs(phi[:, tissue] - expected).max() < 1e-8
    assert np.abs(phi[:, ~tissue]).max() == 0.0


def _manufactured(n: int):
    """phi = cos(pi x / L) cos(pi y / L) and V = cos(2 pi x / L) cos(pi y / L) on the square
    [0, L]^2 (no flux on the walls for both), I_e chosen to satisfy the elliptic equation;
    axis-aligned anisotropy with unequal ratios (D_i 1 / 0.1, D_e 0.6 / 0.4)."""
    length = 2.0
    grid = msim.Grid((n, n), spacing=length / n)
    x, y = grid.coordinates()
    k = np.pi / length
    phi = np.cos(k * x) * np.cos(k * y)
    v = np.cos(2 * k * x) * np.cos(k * y)
    dil, dit, del_, det = 1.0, 0.1, 0.6, 0.4
    lap_phi = -(k**2) * (dil + del_) * phi - k**2 * (dit + det) * phi
    lap_v = -4 * k**2 * dil * v - k**2 * dit * v
    current = -lap_phi - lap_v
    di = Fibres(jnp.asarray([1.0, 0.0]), dil, dit)
    de = Fibres(jnp.asarray([1.0, 0.0]), del_, det)
    return grid, di, de, v, current, phi


def test_elliptic_solve_is_second_order():
    """Axis-aligned unequal anisotropy (the fibre stencil, GMRES) against a manufactured
    solution on three grids; the heterogeneous isotropic case is in validation/bidomain.py."""
    errors = []
    for n in (8, 16, 32):
        grid, di, de, v, current, phi = _manufactured(n)
        got = msim.observe.extracellular_potential(v, grid, di, de, current=current, rtol=1e-12)
        errors.append(float(np.abs(np.asarray(got) - phi).max()))
    orders = np.log2(np.asarray(errors[:-1]) / np.asarray(errors[1:]))
    assert errors[-1] < 5e-3
    assert orders.min() > 1.85, (errors, orders)


def test_ground_reference_is_the_mean_solution_shifted():
    grid, di, de, v, current, _ = _manufactured(8)
    mean = np.asarray(msim.observe.extracellular_potential(v, grid, di, de, current=current))
    ground = np.asarray(msim.observe.extracellular_potential(v, grid, di, de, (3, 4), current))
    assert ground[3, 4] == 0.0
    np.testing.assert_allclose(ground, mean - mean[3, 4], atol=1e-8)
    assert abs(mean.mean()) < 1e-10


def test_gradient_through_a_bidomain_run_matches_finite_differences():
    grid = msim.Grid((6, 5), spacing=0.5)
    cell = msim.cells.AlievPanfilov()
    stim = msim.Stimulus(msim.regions.box((0, 0), (1.0, 2.5)), 0.0, 1.0, 1.0)
    shock = msim.ExtracellularStimulus(
        msim.regions.box((2.0, 0), (2.5, 1.0)),
        msim.regions.box((2.0, 1.5), (2.5, 2.5)),
        start=0.5,
        duration=0.5,
        strength=0.3,
    )
    probe = (4, 2)

    def loss(d_i):
        de = Fibres(jnp.asarray([1.0, 0.0]), 1.5, 0.6)  # unequal ratios against D_i's 1 : 0.25
        problem = msim.Bidomain(
            cell,
            grid,
            Fibres(jnp.asarray([1.0, 0.0]), d_i, 0.25 * d_i),
            de,
            stimulus=stim,
            extracellular_stimulus=shock,
        )
        save = msim.Save(snapshots=False, probes=[probe])
        sol = msim.simulate(problem, 2.0, 0.05, save, diffusion=msim.BidomainDiffusion(rtol=1e-13))
        return sol.final_state[0, 4, 2] + sol.final_state[0, 2, 3]

    x = jnp.asarray(0.8)
    grad = float(jax.grad(loss)(x))
    eps = 1e-4
    fd = (float(loss(x + eps)) - float(loss(x - eps))) / (2 * eps)
    assert abs(fd) > 1e-3
    assert abs(grad - fd) < 1e-5 * max(1.0, abs(fd)), (grad, fd)


def test_a_solve_that_does_not_converge_is_a_linear_solver_result():
    # A mask: the spectral preconditioner is then not exact, and one iteration is too few.
    mask = np.ones((6, 6), bool)
    mask[3:, 3:] = False
    grid = msim.Grid((6, 6), spacing=0.5, mask=mask)
    cell = msim.cells.AlievPanfilov()
    stim = msim.Stimulus(msim.regions.box((0, 0), (1.0, 3.0)), 0.0, 1.0, 1.0)
    problem = msim.Bidomain(cell, grid, 1.0, 0.5, stimulus=stim)
    scheme = msim.BidomainDiffusion(max_steps=1)
    sol = msim.simulate(problem, 0.5, 0.05, diffusion=scheme, throw=False)
    assert sol.result == msim.RESULTS.linear_solver
    stats = sol.linear_solves
    assert stats is not None and bool(stats.failed)
    assert int(stats.max_iterations) == 1 and float(stats.residual) > 1e-6
    assert int(stats.first_failure) == 0  # the stimulus makes b nonzero from the first step
    with pytest.raises(msim.SimulationError, match=r"elliptic solve.*did not converge"):
        msim.simulate(problem, 0.5, 0.05, diffusion=scheme)
    with pytest.raises(Exception, match="did not converge"):
        v = np.asarray(sol.final_state[0])
        jax.block_until_ready(problem.extracellular_potential(v, max_steps=1))


def test_singular_systems_are_refused():
    grid = msim.Grid((6, 6), spacing=0.5)
    cell = msim.cells.AlievPanfilov()
    anode = msim.regions.box((0, 0), (0.5, 0.5))
    cathode = msim.regions.box((2.5, 2.5), (3.0, 3.0))
    with pytest.raises(ValueError, match="defined only up to a constant"):
        msim.Bidomain(cell, grid, 1.0, 1.0, reference=None)
    with pytest.raises(ValueError, match="reference must be 'mean'"):
        msim.Bidomain(cell, grid, 1.0, 1.0, reference="median")
    with pytest.raises(ValueError, match="singular"):
        msim.Bidomain(
            cell, grid, 1.0, 1.0, extracellular_stimulus=msim.ExtracellularStimulus(anode)
        )
    # With a ground the same electrode is fine, and a balanced pair is fine with the mean.
    msim.Bidomain(
        cell,
        grid,
        1.0,
        1.0,
        extracellular_stimulus=msim.ExtracellularStimulus(anode),
        reference=(5, 5),
    )
    msim.Bidomain(
        cell, grid, 1.0, 1.0, extracellular_stimulus=msim.ExtracellularStimulus(anode, cathode)
    )
    net = np.zeros(grid.shape)
    net[0, 0] = 1.0
    with pytest.raises(ValueError, match="net current"):
        msim.observe.extracellular_potential(np.zeros(grid.shape), grid, 1.0, 1.0, current=net)
    split = np.ones(grid.shape, bool)
    split[3] = False
    with pytest.raises(ValueError, match="2 disconnected pieces"):
        msim.Bidomain(cell, msim.Grid((6, 6), 0.5, mask=split), 1.0, 1.0)
    with pytest.raises(ValueError, match="outside the grid"):
        msim.Bidomain(cell, grid, 1.0, 1.0, reference=(9, 0))
    corner = np.ones(grid.shape, bool)
    corner[0, 0] = False
    with pytest.raises(ValueError, match="masked-out cell"):
        msim.Bidomain(cell, msim.Grid((6, 6), 0.5, mask=corner), 1.0, 1.0, reference=(0, 0))


def test_bad_input_says_what_to_change():
    grid = msim.Grid((6, 6), spacing=0.5)
    cell = msim.cells.AlievPanfilov()
    with pytest.raises(ValueError, match="shape"):
        msim.Bidomain(cell, grid, 1.0, np.ones((5, 6)))
    with pytest.raises(ValueError, match="n_frames"):
        msim.observe.extracellular_potential(np.zeros((4, 6, 5)), grid, 1.0, 1.0)
    with pytest.raises(ValueError, match="share cells"):
        box = msim.regions.box((0, 0), (1.0, 1.0))
        msim.Bidomain(
            cell, grid, 1.0, 1.0, extracellular_stimulus=msim.ExtracellularStimulus(box, box)
        )
    problem = msim.Bidomain(cell, grid, 1.0, 1.0)
    with pytest.raises(TypeError, match="implicit parabolic step is not implemented"):
        msim.simulate(problem, 1.0, 0.05, diffusion=msim.ImplicitDiffusion())
    with pytest.raises(TypeError, match="advances a Bidomain problem"):
        msim.simulate(
            msim.Monodomain(cell, grid, 1.0), 1.0, 0.05, diffusion=msim.BidomainDiffusion()
        )
    with pytest.raises(ValueError, match="forward Euler"):
        msim.BidomainDiffusion(parabolic=msim.ExplicitDiffusion(integrator=msim.Heun()))
    with pytest.raises(ValueError, match="max_steps"):
        msim.BidomainDiffusion(max_steps=0)
    phi = np.zeros((3, 6, 6))
    with pytest.raises(ValueError, match=r"outside|indices"):
        msim.observe.electrograms(phi, grid, [(7, 0)])
    np.testing.assert_array_equal(
        np.asarray(msim.observe.electrograms(phi + np.arange(3)[:, None, None], grid, [(1, 2)])),
        [[0.0], [1.0], [2.0]],
    )


def test_a_shock_makes_virtual_electrodes_with_unequal_ratios():
    """A point cathode in tissue at rest: with unequal anisotropy ratios the membrane next to
    it along the fibres is hyperpolarised (virtual anodes); with equal ratios it is not."""
    grid = msim.Grid((21, 21), spacing=0.25)
    cell = msim.cells.AlievPanfilov()
    cathode = msim.regions.ball((2.625, 2.625), 0.1)  # the centre cell, (10, 10)
    anode = msim.regions.box((0, 0), (0.3, 0.3))  # 4 cells in a corner: the return electrode
    shock = msim.ExtracellularStimulus(anode, cathode, 0.0, 0.2, strength=5.0)
    di = Fibres(jnp.asarray([1.0, 0.0]), 1.0, 0.1)
    results = {}
    for name, de in (
        ("unequal", Fibres(jnp.asarray([1.0, 0.0]), 1.0, 0.4)),
        ("equal", Fibres(jnp.asarray([1.0, 0.0]), 2.0, 0.2)),
    ):
        problem = msim.Bidomain(cell, grid, di, de, extracellular_stimulus=shock)
        sol = msim.simulate(problem, 0.2, 0.02)
        results[name] = np.asarray(sol.final_state[0])
    u = results["unequal"]
    # Depolarised under the cathode...
    assert u[10, 10] > 0.05
    # ... and hyperpolarised a few cells away along the fibres, not across them.
    along = min(u[10 + k, 10] for k in range(2, 7))
    assert along < -1e-3
    e = results["equal"]
    assert min(e[10 + k, 10] for k in range(2, 7)) > -1e-6
