"""The compiled step: what XLA is given and keeps (state layout inside the loop, shared rate
expressions), checked on the optimised HLO of the programs users run."""

import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import msim


def _computations(hlo: str) -> dict[str, str]:
    out = {}
    for block in re.split(r"\n(?=\S)", hlo):
        m = re.match(r"(?:ENTRY )?%?([\w.\-]+) ", block)
        if m:
            out[m.group(1)] = block
    return out


def _loop_bodies(hlo: str) -> str:
    """The text of every computation run inside a while loop's body (transitively)."""
    comps = _computations(hlo)
    todo = [m for c in comps.values() for m in re.findall(r"body=%([\w.\-]+)", c)]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in comps:
            continue
        seen.add(name)
        text = comps[name]
        todo += re.findall(r"(?:calls|to_apply|body|condition)=%([\w.\-]+)", text)
        for group in re.findall(r"branch_computations=\{([^}]*)\}", text):
            todo += re.findall(r"%([\w.\-]+)", group)
    return "\n".join(comps[name] for name in seen)


@pytest.mark.parametrize("name", ["AlievPanfilov", "TenTusscherPanfilov2006"])
def test_the_time_loop_never_builds_the_stacked_state(name):
    # Inside the loop the state is one array per state variable: no (n_states, *grid) array is
    # built, sliced or scattered per step (only at the edges: the start and the end).
    cell = getattr(msim.cells, name)()
    grid = msim.Grid((24, 20), 0.5)
    problem = msim.Monodomain(cell, grid, 0.2)
    run = jax.jit(lambda p: msim.simulate(p, 2.0, 0.02, msim.Save(every=1.0, probes=[(3, 4)])))
    hlo = run.lower(problem).compile().as_text()
    bodies = _loop_bodies(hlo)
    assert "while" in hlo and bodies
    stacked = re.compile(rf"\[{cell.n_states},24,20\]")
    assert not stacked.search(bodies), [ln for ln in bodies.splitlines() if stacked.search(ln)][:3]
    assert re.search(r"\[24,20\]", bodies)  # the per-state arrays are there


def _exponentials(f, *args) -> int:
    hlo = jax.jit(f).lower(*args).compile().as_text()
    return len(re.findall(r" exponential\(", hlo))


CELLML = pathlib.Path(__file__).parents[2] / "shared" / "cellml"


def _models():
    hand = ["TenTusscherPanfilov2006", "OHaraRudy2011", "CourtemancheRamirezNattel1998"]
    hand += ["LuoRudy1991", "BeelerReuter1977"]
    yield from (pytest.param(lambda n=n: getattr(msim.cells, n)(), id=n) for n in hand)
    # An imported model: its rhs (one jvp through the equation set) and its gate rates do not
    # merge in XLA, so it evaluates both at once (GatedCellMLModel.rhs_and_gate_rates).
    path = CELLML / "ten_tusscher_model_2006_epi.cellml"
    yield pytest.param(
        lambda: msim.cells.from_cellml(path),
        id="cellml-tp06",
        marks=pytest.mark.skipif(not path.exists(), reason=f"{path} is not available"),
    )


@pytest.mark.parametrize("make", list(_models()))
def test_rush_larsen_computes_the_gate_rates_once(make):
    # The step's exponentials are the model's rhs's (which computes the gate rates for the
    # gates' derivatives) plus one exp(-dt / tau) per gate: the rates are never computed twice.
    cell = make()
    y = jnp.broadcast_to(cell.initial_state()[:, None], (cell.n_states, 16))
    t, i = jnp.zeros(()), jnp.zeros(())
    step = _exponentials(lambda y: msim.RushLarsen().step(cell, t, y, 0.01, i), y)
    rhs = _exponentials(lambda y: cell.rhs(t, y, i), y)
    rates = _exponentials(lambda y: cell.gate_rates(t, y), y)
    assert rates > 0
    assert step <= rhs + len(cell.gate_indices) < rhs + rates + len(cell.gate_indices)


@pytest.mark.parametrize("periodic", [(False, False), (True, True), (True, False)])
def test_the_unfused_uniform_stencil_is_the_same_operator(periodic):
    grid = msim.Grid((7, 5), (0.5, 0.25), periodic=periodic)
    stencil = msim.tissue.as_conductivity(1.3).stencil(grid)
    assert isinstance(stencil, msim.tissue.UniformStencil)
    u = jax.random.normal(jax.random.key(0), grid.shape)
    np.testing.assert_allclose(stencil.apply_unfused(u), stencil.apply(u), rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("fuse", [True, False])
def test_fusing_the_reaction_into_the_stencil_changes_no_number(fuse):
    cell = msim.cells.MitchellSchaeffer()  # gated: unfused by default
    grid = msim.Grid((9, 8), 0.25)
    stim = msim.Stimulus(msim.regions.box((0, 0), (0.5, 2.0)), duration=2.0, amplitude=0.5)
    problem = msim.Monodomain(cell, grid, 0.1, stimulus=stim)
    save = msim.Save(every=5.0, probes=[(4, 4)])
    default = msim.simulate(problem, 20.0, 0.05, save)
    chosen = msim.simulate(problem, 20.0, 0.05, save, diffusion=msim.ExplicitDiffusion(fuse=fuse))
    np.testing.assert_allclose(chosen.final_state, default.final_state, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(chosen.traces, default.traces, rtol=1e-12, atol=1e-12)
