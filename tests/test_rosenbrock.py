"""`msim.RosenbrockEuler`: the linearly implicit reaction step for stiff non-gate states."""

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import msim
from msim.cells import BeelerReuter1977, LuoRudy1991

ZERO = jnp.zeros(())


class Markov(msim.cells.AbstractCellModel):
    """A three-state chain C <-> O <-> I with stiff rates (1/ms) and a relaxing voltage-like
    state V; `k_co` may be a per-cell field. Linear in the states."""

    k_co: jax.Array = eqx.field(converter=msim.cells.parameter, default=5e3)
    k_oc: jax.Array = eqx.field(converter=msim.cells.parameter, default=1e3)
    k_oi: jax.Array = eqx.field(converter=msim.cells.parameter, default=2e3)
    k_io: jax.Array = eqx.field(converter=msim.cells.parameter, default=50.0)

    state_names: ClassVar[tuple[str, ...]] = ("V", "C", "O", "I")
    voltage_index: ClassVar[int] = 0
    activation_threshold: ClassVar[float] = 0.5

    def rhs(self, t, y, i_stim):
        v, c, o, i = y
        return jnp.stack(
            [
                -0.1 * v + i_stim,
                self.k_oc * o - self.k_co * c,
                self.k_co * c - (self.k_oc + self.k_oi) * o + self.k_io * i,
                self.k_oi * o - self.k_io * i,
            ]
        )

    def matrix(self):
        """The constant Jacobian (the model is linear)."""
        return jnp.asarray(
            [
                [-0.1, 0.0, 0.0, 0.0],
                [0.0, -self.k_co, self.k_oc, 0.0],
                [0.0, self.k_co, -(self.k_oc + self.k_oi), self.k_io],
                [0.0, 0.0, self.k_oi, -self.k_io],
            ]
        )

    def initial_state(self):
        return jnp.asarray([1.0, 1.0, 0.0, 0.0])


def test_linear_stiff_model_takes_the_exact_backward_euler_step():
    """For a linear model the step is backward Euler exactly: stable at dt = 0.02 ms with
    rates up to 7000 /ms (forward Euler's factor there is ~140), and the chain's total
    occupancy is conserved."""
    cell, dt = Markov(), 0.02
    a = np.eye(4) - dt * np.asarray(cell.matrix())
    y = cell.initial_state()
    y_be = np.asarray(y)
    for _ in range(50):
        y = msim.RosenbrockEuler().step(cell, ZERO, y, dt, ZERO)
        y_be = np.linalg.solve(a, y_be)
        np.testing.assert_allclose(y, y_be, rtol=1e-12, atol=1e-14)
        assert abs(float(y[1:].sum()) - 1.0) < 1e-13
    # The chain relaxes to its equilibrium; forward Euler would have blown up.
    assert bool(jnp.all(y[1:] >= 0))
    y_fe = cell.initial_state()
    for _ in range(5):
        y_fe = msim.ForwardEuler().step(cell, ZERO, y_fe, dt, ZERO)
    assert float(jnp.abs(y_fe).max()) > 1e6


def test_a_chosen_subset_is_implicit_and_the_rest_explicit():
    """With ``states=`` only the named states take the implicit step (here the stiff chain,
    exactly backward Euler on its block); V takes forward Euler."""
    cell, dt = Markov(), 0.02
    y = jnp.asarray([0.7, 0.6, 0.3, 0.1])
    out = msim.RosenbrockEuler(states=("C", "O", "I")).step(cell, ZERO, y, dt, jnp.asarray(2.0))
    np.testing.assert_allclose(out[0], 0.7 + dt * (-0.07 + 2.0), rtol=1e-14)
    chain = np.eye(3) - dt * np.asarray(cell.matrix())[1:, 1:]
    np.testing.assert_allclose(out[1:], np.linalg.solve(chain, np.asarray(y[1:])), rtol=1e-12)
    with pytest.raises(ValueError, match=r"\['m'\] are gates of LuoRudy1991"):
        msim.RosenbrockEuler(states=("m", "Cai")).step(
            LuoRudy1991(), ZERO, LuoRudy1991().initial_state(), dt, ZERO
        )
    with pytest.raises(ValueError, match="has no state 'X'"):
        msim.RosenbrockEuler(states=("X",)).step(cell, ZERO, y, dt, ZERO)
    with pytest.raises(ValueError, match="at least one state"):
        msim.RosenbrockEuler(states=())


def test_each_cell_gets_its_own_jacobian():
    """On a grid with a per-cell rate field the step equals the single-cell step in every
    cell (the Jacobian is assembled per cell, not shared)."""
    k = jnp.linspace(1e2, 1e4, 6).reshape(2, 3)
    cell = Markov(k_co=k)
    y = jnp.broadcast_to(jnp.asarray([0.3, 0.6, 0.3, 0.1])[:, None, None], (4, 2, 3))
    stim = jnp.arange(6.0).reshape(2, 3)
    out = msim.RosenbrockEuler().step(cell, ZERO, y, 0.05, stim)
    for i in range(2):
        for j in range(3):
            one = msim.RosenbrockEuler().step(
                Markov(k_co=k[i, j]), ZERO, y[:, i, j], 0.05, stim[i, j]
            )
            np.testing.assert_allclose(out[:, i, j], one, rtol=1e-13)


def test_gates_take_the_rush_larsen_step_and_the_rest_the_linearised_implicit_one():
    cell = LuoRudy1991()
    y = cell.initial_state().at[0].set(-20.0)
    dt = 0.05
    out = msim.RosenbrockEuler().step(cell, ZERO, y, dt, ZERO)
    gates = jnp.asarray(cell.gate_indices)
    rl = msim.RushLarsen().step(cell, ZERO, y, dt, ZERO)
    np.testing.assert_allclose(out[gates], rl[gates], rtol=1e-14)
    rest = jnp.asarray([0, 7])  # V and Cai

    def f(z):
        return cell.rhs(ZERO, y.at[rest].set(z), ZERO)[rest]

    jac = jax.jacfwd(f)(y[rest])
    expected = y[rest] + jnp.linalg.solve(jnp.eye(2) - dt * jac, dt * f(y[rest]))
    np.testing.assert_allclose(out[rest], expected, rtol=1e-12)


@jax.jit
def _beat(cell, y0, dt):
    n = 8000  # 400 ms at dt = 0.05
    scheme = msim.RosenbrockEuler()

    def step(y, k):
        i_stim = jnp.where(k * dt < 1.0, 50.0, 0.0)
        y = scheme.step(cell, k * dt, y, dt, i_stim)
        return y, y[0]

    _, v = jax.lax.scan(step, y0, jnp.arange(n, dtype=y0.dtype))
    return v


def test_beeler_reuter_beat_and_gradient():
    """A Beeler-Reuter beat with the implicit step at dt = 0.05 ms keeps APD90 within 1% of a
    fine Rush-Larsen reference (first order: -1.25% at dt = 0.1 ms), and reverse-mode
    gradients through the solve match central differences."""
    cell = BeelerReuter1977()
    y0 = cell.initial_state()
    dt = 0.05
    v = np.asarray(_beat(cell, y0, dt))
    t = np.arange(1, v.size + 1) * dt
    apd = float(msim.observe.apd(v, t, 90))
    rl = msim.RushLarsen()

    @jax.jit
    def reference(cell):
        def step(y, k):
            i_stim = jnp.where(k * 0.01 < 1.0, 50.0, 0.0)
            y = rl.step(cell, k * 0.01, y, 0.01, i_stim)
            return y, y[0]

        return jax.lax.scan(step, y0, jnp.arange(40_000, dtype=y0.dtype))[1]

    v_ref = np.asarray(reference(cell))
    apd_ref = float(msim.observe.apd(v_ref, np.arange(1, v_ref.size + 1) * 0.01, 90))
    print(f"BR APD90: RosenbrockEuler dt 0.05 {apd:.2f} ms, Rush-Larsen dt 0.01 {apd_ref:.2f} ms")
    assert abs(apd / apd_ref - 1) < 0.01

    def v_at_250(g):
        return _beat(BeelerReuter1977(g_s=g), y0, dt)[4999]

    g0 = 0.09
    grad = float(jax.grad(v_at_250)(jnp.asarray(g0)))
    h = 1e-5
    fd = float((v_at_250(g0 + h) - v_at_250(g0 - h)) / (2 * h))
    assert abs(grad) * g0 > 1.0
    assert abs(grad - fd) < 1e-5 * abs(fd)


def test_simulate_accepts_the_implicit_reaction_in_tissue():
    """A cable of Beeler-Reuter cells with `reaction=RosenbrockEuler()` conducts like the
    Rush-Larsen default: activation times within 2% (two first-order schemes at dt = 0.02;
    the implicit upstroke is slightly slower, 1.4% at the far end)."""
    grid = msim.Grid((40,), 0.25)
    stim = msim.Stimulus(msim.regions.box((0.0,), (1.0,)), 0.0, 2.0, 50.0)
    problem = msim.Monodomain(BeelerReuter1977(), grid, 0.1, stimulus=stim)
    kwargs = dict(t_end=30.0, dt=0.02, save=msim.Save(threshold=-20.0, snapshots=False))
    implicit = msim.simulate(problem, reaction=msim.RosenbrockEuler(), **kwargs)
    default = msim.simulate(problem, **kwargs)
    at, at_ref = np.asarray(implicit.activation_times), np.asarray(default.activation_times)
    assert np.all(np.isfinite(at))
    np.testing.assert_allclose(at, at_ref, rtol=0.02, atol=0.02)


# --- the Jacobian from its sparsity ---------------------------------------------------------------


class Branchy(msim.cells.AbstractCellModel):
    """V, two concentrations and a two-state chain with a branch: ``c2`` feeds ``dV/dt`` only
    while V > 0 (a ``where``), and ``o`` is coupled to ``c1`` through a Hill term."""

    g: jax.Array = eqx.field(converter=msim.cells.parameter, default=2.0)

    state_names: ClassVar[tuple[str, ...]] = ("V", "c1", "c2", "o", "x")
    voltage_index: ClassVar[int] = 0
    activation_threshold: ClassVar[float] = 0.0

    def rhs(self, t, y, i_stim):
        v, c1, c2, o, x = y
        return jnp.stack(
            [
                -0.1 * v + jnp.where(v > 0, self.g * c2, 0.0) + i_stim,
                -c1 + 0.5 * o,
                -3.0 * c2 + jnp.floor(v),  # floor carries no derivative
                20.0 * c1**4 / (1 + c1**4) * (1 - o) - 5.0 * o,
                jnp.exp(-x) * c1 - x,
            ]
        )

    def initial_state(self):
        return jnp.asarray([-1.0, 0.2, 0.1, 0.0, 0.3])


def test_sparsity_pattern_is_structural_and_the_colouring_valid():
    """The pattern read from the jaxpr has every entry that can be non-zero, also those of a
    branch that is off at the point (dV/dc2 at V < 0), none of what carries no derivative
    (floor), and the columns of a colour share no row."""
    from msim.solve._sparsity import colour_columns

    cell, scheme = Branchy(), msim.RosenbrockEuler()
    y = cell.initial_state()
    pattern = scheme.jacobian_pattern(cell, y, scheme.implicit_states(cell))
    expected = np.array(
        [
            [1, 0, 1, 0, 0],
            [0, 1, 0, 1, 0],
            [0, 0, 1, 0, 0],
            [0, 1, 0, 1, 0],
            [0, 1, 0, 0, 1],
        ],
        bool,
    )
    np.testing.assert_array_equal(pattern, expected)
    dense = np.asarray(jax.jacfwd(lambda y: cell.rhs(ZERO, y, ZERO))(y))
    assert dense[0, 2] == 0.0  # off at this point, in the pattern all the same
    assert not np.any((dense != 0) & ~pattern)
    colour = colour_columns(pattern)
    for c in range(colour.max() + 1):
        assert pattern[:, colour == c].sum(axis=1).max() <= 1
    assert colour.max() + 1 == 2  # {V, o, x} and {c1, c2}: two products for five columns
    rng = np.random.default_rng(0)
    random = rng.random((30, 30)) < 0.1
    colour = colour_columns(random)
    for c in range(colour.max() + 1):
        assert random[:, colour == c].sum(axis=1).max() <= 1


def test_unknown_primitives_are_treated_as_coupling_everything():
    """A primitive the analysis does not know (a while loop here) makes its outputs depend on
    all of its inputs: a superset, never a missed entry."""
    from msim.solve._sparsity import jacobian_sparsity

    def f(a, b, c):
        s = jax.lax.while_loop(lambda s: s[0] < 3.0, lambda s: (s[0] + a, s[1] * b), (a, b))
        return jnp.stack([s[1], c])

    args = [jax.ShapeDtypeStruct((), jnp.float64)] * 3
    np.testing.assert_array_equal(
        jacobian_sparsity(f, args, [0, 1, 2]), [[True, True, False], [False, False, True]]
    )


@pytest.mark.parametrize("name", ["markov", "branchy"])
def test_sparse_jacobian_step_equals_the_dense_one(name):
    """The step with the coloured Jacobian equals the one with a product per state, on a
    grid with a per-cell parameter field, with all non-gates implicit and with a subset
    (Luo-Rudy's step is checked against jax.jacfwd above)."""
    cell = {
        "markov": Markov(k_co=jnp.linspace(1e2, 1e4, 6).reshape(2, 3)),
        "branchy": Branchy(g=jnp.linspace(0.5, 3.0, 6).reshape(2, 3)),
    }[name]
    rng = np.random.default_rng(1)
    y0 = np.asarray(cell.initial_state())
    y = jnp.asarray(y0[:, None, None] * (1 + 0.1 * rng.standard_normal((y0.size, 2, 3))))
    if name == "branchy":
        y = y.at[0].set(jnp.asarray([[-1.0, 2.0, 0.5], [3.0, -2.0, 1.0]]))
    stim = jnp.arange(6.0).reshape(2, 3)
    subsets = [None, ("V", cell.state_names[1])]
    step = eqx.filter_jit(lambda scheme, cell, y, stim: scheme.step(cell, ZERO, y, 0.05, stim))
    for states in subsets:
        sparse = step(msim.RosenbrockEuler(states=states), cell, y, stim)
        dense = step(msim.RosenbrockEuler(states=states, sparse=False), cell, y, stim)
        np.testing.assert_allclose(sparse, dense, rtol=1e-13, atol=1e-15)
