"""Choosing what to fit: paths, transforms, bounds, priors and regularisers."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import msim
from msim import calibrate as cal
from msim._paths import parse_path

GRID = msim.Grid((4, 3), 0.5)
STIM = msim.Stimulus(msim.regions.box((0.0, 0.0), (0.6, 1.5)), duration=1.0)


def _problem(k=8.0, diffusivity=1.0):
    return msim.Monodomain(msim.cells.AlievPanfilov(k=k), GRID, diffusivity, stimulus=STIM)


TRANSFORMS = {
    "identity": (cal.Identity(), np.array([-3.0, 0.0, 1e-3, 7.5])),
    "log": (cal.Log(), np.array([1e-6, 0.3, 1.0, 4e3])),
    "softplus": (cal.Softplus(), np.array([1e-6, 0.3, 1.0, 40.0])),
    "sigmoid": (cal.Sigmoid(-1.0, 2.0), np.array([-0.999, -0.5, 0.0, 1.9])),
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_transforms_round_trip_for_scalars_and_fields(name):
    t, x = TRANSFORMS[name]
    field = jnp.asarray(x)
    np.testing.assert_allclose(t.forward(t.inverse(field)), x, rtol=1e-12, atol=1e-15)
    for value in x:  # scalars too
        back = t.forward(t.inverse(jnp.asarray(value)))
        assert back.shape == ()
        np.testing.assert_allclose(back, value, rtol=1e-12, atol=1e-15)
    # Every unconstrained value maps into the domain.
    theta = jnp.asarray([-30.0, -1.0, 0.0, 1.0, 30.0])
    assert t.contains(np.asarray(t.forward(theta))).all() or name == "identity"


def test_sigmoid_maps_into_the_open_box_and_log_into_positive_values():
    theta = jnp.linspace(-20.0, 20.0, 41)
    x = cal.Sigmoid(0.5, 3.0).forward(theta)
    assert float(x.min()) > 0.5 and float(x.max()) < 3.0
    assert bool(jnp.all(jnp.diff(x) > 0))  # monotone
    assert float(cal.Log().forward(jnp.asarray(-20.0))) > 0


def test_bounds_mean_a_sigmoid_box():
    p = cal.Parameter("cell.k", bounds=(2.0, 20.0))
    assert isinstance(p.transform, cal.Sigmoid)
    sel = cal.Selection(_problem(), [p])
    theta = sel.initial()
    np.testing.assert_allclose(sel.physical(theta)["cell.k"], 8.0, rtol=1e-14)
    far = sel.physical({"cell.k": jnp.asarray(50.0)})["cell.k"]
    assert 2.0 < float(far) <= 20.0


@pytest.mark.parametrize(
    ("parameter", "words"),
    [
        (cal.Parameter("cell.k", bounds=(0.0, 5.0)), ["'cell.k'", "(0.0, 5.0)", "8."]),
        (cal.Parameter("cell.a", cal.Log()), ["'cell.a'", "x > 0", "-0.1"]),
        (cal.Parameter("conductivity.diffusivity", cal.Sigmoid(0.9, 1.0)), ["diffusivity"]),
    ],
)
def test_a_start_outside_the_domain_raises_naming_the_parameter(parameter, words):
    problem = msim.Monodomain(msim.cells.AlievPanfilov(k=8.0, a=-0.1), GRID, 1.0, stimulus=STIM)
    with pytest.raises(ValueError, match="start value") as info:
        cal.Selection(problem, [parameter])
    for w in words:
        assert w in str(info.value), str(info.value)


def test_a_field_start_partly_outside_the_bounds_raises():
    d = np.full(GRID.shape, 1.0)
    d[1, 2] = 6.0
    with pytest.raises(ValueError, match=r"conductivity.diffusivity.*\[6\.\]"):
        cal.Selection(
            _problem(diffusivity=d), [cal.Parameter("conductivity.diffusivity", bounds=(0.1, 5.0))]
        )


def test_inconsistent_bounds_and_transforms_are_refused():
    with pytest.raises(ValueError, match="either bounds or a transform"):
        cal.Parameter("cell.k", cal.Log(), bounds=(1.0, 2.0))
    with pytest.raises(ValueError, match="lo < hi"):
        cal.Parameter("cell.k", bounds=(2.0, 1.0))
    with pytest.raises(ValueError, match="pair"):
        cal.Parameter("cell.k", bounds=(1.0,))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="transform"):
        cal.Parameter("cell.k", transform="log")  # type: ignore[arg-type]


def test_unknown_path_lists_the_available_ones():
    with pytest.raises(ValueError) as info:
        cal.Selection(_problem(), ["cell.kk"])
    message = str(info.value)
    assert "'cell.kk'" in message
    for path in (
        "cell.k",
        "cell.mu2",
        "conductivity.diffusivity",
        "stimuli[0].amplitude",
        "initial_state",
    ):
        assert path in message
    for bad in ("cell", "grid.shape", "stimuli[2].amplitude", "stimuli[0].region"):
        with pytest.raises(ValueError, match="available"):
            cal.Selection(_problem(), [bad])
    with pytest.raises(ValueError, match="more than once"):
        cal.Selection(_problem(), ["cell.k", cal.Parameter("cell.k", cal.Log())])


def test_path_parser_reads_attributes_indices_and_keys_and_refuses_the_rest():
    assert parse_path("cell.k") == ("cell", "k")
    assert parse_path("stimuli[0].amplitude") == ("stimuli", 0, "amplitude")
    assert parse_path("conductivities[1].diffusivity") == ("conductivities", 1, "diffusivity")
    assert parse_path("a['x'].b") == ("a", "x", "b")
    for bad in ("", "cell..k", "cell.k()", "cell k", "[0", "__import__('os')", "cell.k+1"):
        with pytest.raises(ValueError):
            parse_path(bad)
    with pytest.raises(ValueError):  # dunder attributes are not followed
        cal.Selection(_problem(), ["cell.__class__"])


def test_apply_replaces_only_the_selected_leaves():
    problem = _problem()
    sel = cal.Selection(
        problem,
        [cal.Parameter("cell.k", cal.Log()), "stimuli[0].amplitude", "conductivity.diffusivity"],
    )
    theta = sel.initial()
    assert set(theta) == {"cell.k", "stimuli[0].amplitude", "conductivity.diffusivity"}
    assert all(not t.weak_type for t in theta.values())
    new = sel.apply(problem, {**theta, "cell.k": jnp.log(jnp.asarray(5.0))})
    assert float(new.cell.k) == pytest.approx(5.0, rel=1e-14)
    assert new.cell.a is problem.cell.a and new.initial_state is problem.initial_state
    assert new.stimulus_masks is problem.stimulus_masks
    assert float(new.stimuli[0].amplitude) == 1.0
    assert new.cell.k.dtype == problem.cell.k.dtype
    # Differentiating through apply reaches theta only.
    g = jax.grad(lambda t: sel.apply(problem, t).cell.k * 2.0)(theta)
    np.testing.assert_allclose(g["cell.k"], 2.0 * 8.0, rtol=1e-14)  # d(2 e^t)/dt
    assert float(g["stimuli[0].amplitude"]) == 0.0
    with pytest.raises(ValueError, match="theta"):
        sel.apply(problem, {"cell.k": theta["cell.k"]})
    with pytest.raises(ValueError, match="shape"):
        sel.apply(problem, {**theta, "cell.k": jnp.zeros(3)})


def test_a_whole_field_and_the_initial_state_can_be_selected():
    d = np.linspace(0.5, 1.5, GRID.size).reshape(GRID.shape)
    problem = _problem(diffusivity=d)
    sel = cal.Selection(
        problem, [cal.Parameter("conductivity.diffusivity", cal.Softplus()), "initial_state"]
    )
    theta = sel.initial()
    assert theta["conductivity.diffusivity"].shape == GRID.shape
    back = sel.apply(problem, theta)
    np.testing.assert_allclose(back.conductivity.diffusivity, d, rtol=1e-13)
    np.testing.assert_array_equal(back.initial_state, problem.initial_state)


def test_priors_and_regularisers_have_the_documented_values():
    field = jnp.asarray([[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]])
    # Tikhonov: axis 0 differences 2, 1, -1; axis 1: 1, 2, 0, 0.
    assert float(cal.Tikhonov(0.5)(field)) == pytest.approx(0.5 * (4 + 1 + 1 + 1 + 4))
    assert float(cal.Tikhonov(1.0)(jnp.full((3, 3), 2.0))) == 0.0
    eps = 1e-3
    tv = cal.TotalVariation(2.0, eps)(field)
    grad0 = np.array([[2.0, 1.0, -1.0], [0.0, 0.0, 0.0]])
    grad1 = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    expected = 2.0 * np.sum(np.sqrt(grad0**2 + grad1**2 + eps**2))
    assert float(tv) == pytest.approx(expected, rel=1e-14)
    g = cal.Gaussian(8.0, 2.0)(jnp.asarray(11.0))
    assert float(g) == pytest.approx(0.5 * 1.5**2)
    with pytest.raises(ValueError, match="std"):
        cal.Gaussian(0.0, 0.0)


def test_selection_penalty_sums_priors_and_regularisers_of_physical_values():
    d = np.ones(GRID.shape)
    d[0, 0] = 2.0
    sel = cal.Selection(
        _problem(k=10.0, diffusivity=d),
        [
            cal.Parameter("cell.k", cal.Log(), prior=cal.Gaussian(8.0, 1.0)),
            cal.Parameter("conductivity.diffusivity", cal.Log(), regularizer=cal.Tikhonov(3.0)),
        ],
    )
    expected = 0.5 * 2.0**2 + 3.0 * 2.0  # two unit jumps next to cell (0, 0)
    assert float(sel.penalty(sel.initial())) == pytest.approx(expected, rel=1e-13)
    with pytest.raises(ValueError, match="scalar"):
        cal.Selection(_problem(), [cal.Parameter("cell.k", regularizer=cal.Tikhonov(1.0))])


def test_selection_is_a_pytree_and_starts_spread_around_the_initial_values():
    sel = cal.Selection(_problem(), [cal.Parameter("cell.k", cal.Log())])
    assert eqx.tree_equal(sel, sel)
    starts = sel.starts(5, jax.random.key(1), scale=0.3)
    assert starts["cell.k"].shape == (5,)
    assert float(starts["cell.k"][0]) == pytest.approx(np.log(8.0), rel=1e-14)
    assert float(jnp.std(starts["cell.k"][1:])) > 0.05
    with pytest.raises(ValueError, match="positive"):
        sel.starts(0, jax.random.key(0))
