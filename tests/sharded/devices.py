"""Sharded runs on forced CPU devices equal the one-device runs (run by tests/test_sharding.py
in a fresh process: the device count is fixed when JAX starts)."""

import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import collections
import json
import re

import jax
import jax.numpy as jnp
import numpy as np

import msim

jax.config.update("jax_enable_x64", True)
assert jax.device_count() == 8
report = {}


def close(a, b, what, tol=1e-12):
    a, b = np.asarray(a), np.asarray(b)
    both = np.isnan(a) & np.isnan(b)
    err = float(np.max(np.where(both, 0.0, np.abs(a - b)))) if a.size else 0.0
    assert err <= tol * max(1.0, float(np.nanmax(np.abs(b)))), (what, err)
    report[what] = err


def collectives(fn, *args):
    text = jax.jit(fn).lower(*args).compile().as_text()
    ops = r"(all-gather|all-reduce|collective-permute|all-to-all|reduce-scatter)"
    return dict(collections.Counter(re.findall(r"= \S+ " + ops + r"[-(]", text)))


# 2D: a mask with a hole and a fibre field, split along either axis.
mask = np.ones((32, 24), bool)
mask[10:14, 5:15] = False
grid2 = msim.Grid((32, 24), 0.5, mask=mask)
angle = np.linspace(0.0, 1.0, 32 * 24).reshape(32, 24)
fibres = msim.tissue.Fibres.from_angle(angle, 1.0, 0.3)
stim2 = msim.Stimulus(msim.regions.box((0, 0), (2, 12)), duration=1.0)
p2 = msim.Monodomain(msim.cells.AlievPanfilov(), grid2, fibres, stimulus=stim2)
save = msim.Save(every=1.0, probes=[(20, 20)])
ref = msim.simulate(p2, 8.0, 0.02, save)
for axis, n in ((0, 8), (1, 4)):
    out = msim.simulate(msim.ensemble.shard_grid(p2, n, axis=axis), 8.0, 0.02, save)
    close(out.final_state, ref.final_state, f"2d_axis{axis}_state")
    close(out.activation_times, ref.activation_times, f"2d_axis{axis}_activation")
    close(out.traces, ref.traces, f"2d_axis{axis}_traces")
sharded = msim.ensemble.shard_grid(p2, 8, axis=0)
report["2d_collectives"] = collectives(
    lambda p: msim.simulate(p, 8.0, 0.02, save).final_state, sharded
)
assert report["2d_collectives"].get("collective-permute", 0) > 0, report["2d_collectives"]

# 3D: a mask and uniform fibres, split along x.
mask3 = np.ones((16, 8, 8), bool)
mask3[6:9, 2:5, :] = False
grid3 = msim.Grid((16, 8, 8), 0.5, mask=mask3)
fib3 = msim.tissue.Fibres(np.array([1.0, 1.0, 0.5]), 1.0, 0.2)
stim3 = msim.Stimulus(msim.regions.box((0, 0, 0), (1.5, 4, 4)), duration=1.0)
p3 = msim.Monodomain(msim.cells.AlievPanfilov(), grid3, fib3, stimulus=stim3)
ref3 = msim.simulate(p3, 6.0, 0.02)
out3 = msim.simulate(msim.ensemble.shard_grid(p3, 8, axis=0), 6.0, 0.02)
close(out3.final_state, ref3.final_state, "3d_state")
close(out3.activation_times, ref3.activation_times, "3d_activation")

# Gradients through the split grid: d(loss)/d(diffusivity field), heterogeneous, masked.
iso = msim.Monodomain(msim.cells.AlievPanfilov(), grid2, np.full((32, 24), 1.0), stimulus=stim2)
diffusion = msim.ExplicitDiffusion(substeps=1)


def loss(problem):
    sol = msim.simulate(problem, 4.0, 0.02, diffusion=diffusion)
    return jnp.sum(sol.final_state[0] ** 2)


g_ref = jax.grad(loss)(iso).conductivity.diffusivity
g_out = jax.grad(loss)(msim.ensemble.shard_grid(iso, 8)).conductivity.diffusivity
close(g_out, g_ref, "2d_grad_diffusivity", tol=1e-10)

# Members split over devices: shard_map and a sharded vmap equal the one-device run.
grid1 = msim.Grid((12,), 1.0)
p1 = msim.Monodomain(
    msim.cells.AlievPanfilov(),
    grid1,
    1.0,
    stimulus=msim.Stimulus(msim.regions.box(0, 2), duration=1.0),
)
design = msim.ensemble.sample({"cell.k": (6.0, 10.0), "conductivity.diffusivity": (0.5, 2.0)}, 13,
                              method="latin_hypercube", seed=2)  # fmt: skip
save1 = msim.Save(every=1.0, probes=[(6,), (11,)])
one = msim.ensemble.simulate(p1, design, 10.0, 0.05, save1, chunk_size=13, progress=False)
for strategy in ("shard_map", "jit"):
    many = msim.ensemble.simulate(
        p1, design, 10.0, 0.05, save1, chunk_size=13, devices=8, strategy=strategy, progress=False
    )
    assert many.info["chunk_size"] == 16 and many.info["devices"] == 8, many.info
    close(many["traces"], one["traces"], f"members_{strategy}_traces")
    close(many["activation_times"], one["activation_times"], f"members_{strategy}_activation")


# Gradients through a member-sharded batch.
def member_loss(x):
    p = msim.Monodomain(msim.cells.AlievPanfilov(k=x["k"]), grid1, 1.0, stimulus=p1.stimuli)
    return jnp.sum(msim.simulate(p, 4.0, 0.05).final_state[0] ** 2)


ks = {"k": jnp.linspace(6.0, 10.0, 8)}
g1 = jax.grad(lambda x: jnp.sum(jax.vmap(member_loss)(x)))(ks)["k"]
for strategy in ("shard_map", "jit"):
    f = msim.ensemble.shard_members(member_loss, 8, strategy)
    g8 = jax.grad(lambda x, f=f: jnp.sum(f(x)))(ks)["k"]
    close(g8, g1, f"members_{strategy}_grad", tol=1e-10)

# A mesh that does not divide the grid is refused before any compute.
try:
    msim.ensemble.shard_grid(p2, 5, axis=0)
except ValueError as e:
    assert "do not divide" in str(e)
    report["bad_mesh"] = str(e)
else:
    raise AssertionError("shard_grid accepted 5 devices for 32 cells")

print(json.dumps(report))
