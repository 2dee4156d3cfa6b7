"""Sharding on one host: one grid split over devices (the halo exchange left to the compiler,
against a hand-written `jax.shard_map` + `lax.ppermute` halo exchange of the same scheme), and
members split over devices (`shard_map` against a sharded vmap). Prints one JSON line per case,
and a paper estimate of strong and weak scaling to 8 GPUs from the per-step bytes (marked as an
estimate: nothing here ran on GPUs).

On the CPU it forces ``--devices`` host devices (default 8); they share the machine's cores, so
the measured ratio is the overhead of partitioning and communication, not a speed-up.

    python benchmarks/sharding.py --n 256 --steps 200
"""

import argparse
import os
import sys

if __name__ == "__main__":
    n_dev = 8
    if "--devices" in sys.argv:
        n_dev = int(sys.argv[sys.argv.index("--devices") + 1])
    os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={n_dev}")

import collections
import re

import jax
import jax.numpy as jnp
import numpy as np
from _harness import (
    DIFFUSIVITY,
    DT,
    SPACING,
    cell_parameters,
    device_kind,
    emit,
    log,
    median_seconds,
    problem as make_problem,
)
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

import msim


def collectives(compiled_text: str) -> dict[str, int]:
    ops = r"(all-gather|all-reduce|collective-permute|all-to-all|reduce-scatter)"
    return dict(collections.Counter(re.findall(r"= \S+ " + ops + r"[-(]", compiled_text)))


def ppermute_run(params, n: int, steps: int, mesh: Mesh):
    """The harness's scheme (forward-Euler Aliev-Panfilov, then one explicit 5-point step with
    no-flux edges) on row slabs, halos exchanged by hand with `lax.ppermute`."""
    k, a, eps0, mu1, mu2 = (params[name] for name in ("k", "a", "eps0", "mu1", "mu2"))
    size = mesh.devices.size
    down = [(i, i + 1) for i in range(size - 1)]  # my last row goes to the next slab
    up = [(i + 1, i) for i in range(size - 1)]

    def local(u, v):
        i = jax.lax.axis_index("grid")

        def step(carry, _):
            u, v = carry
            du = -k * u * (u - a) * (u - 1.0) - u * v
            dv = (eps0 + mu1 * v / (u + mu2)) * (-v - k * u * (u - a - 1.0))
            u, v = u + DT * du, v + DT * dv
            from_above = jax.lax.ppermute(u[-1:], "grid", down)
            from_below = jax.lax.ppermute(u[:1], "grid", up)
            top = jnp.where(i == 0, u[:1], from_above)  # no flux: mirror at the global edge
            bottom = jnp.where(i == size - 1, u[-1:], from_below)
            ext = jnp.concatenate([top, u, bottom])
            side = jnp.pad(u, ((0, 0), (1, 1)), mode="edge")
            lap = (ext[:-2] + ext[2:] + side[:, :-2] + side[:, 2:] - 4.0 * u) / SPACING**2
            return (u + DT * DIFFUSIVITY * lap, v), None

        (u, v), _ = jax.lax.scan(step, (u, v), None, length=steps)
        return u, v

    spec = P("grid", None)
    return jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(spec, spec), out_specs=(spec, spec)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--members", type=int, default=64)
    parser.add_argument("--member-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n, steps, n_dev = args.n, args.steps, args.devices
    assert jax.device_count() >= n_dev, jax.devices()
    log(f"sharding: {device_kind()} x {n_dev}, grid {n}^2, {steps} steps")
    dtype = jnp.float32
    params = cell_parameters(dtype)
    d = jnp.asarray(DIFFUSIVITY, dtype)
    t_end = steps * DT
    save = msim.Save(every=None, snapshots=False, activation=False)
    problem = make_problem(n, params, d, dtype)
    sharded = msim.ensemble.shard_grid(problem, n_dev, axis=0)

    def final(p):
        return msim.simulate(p, t_end, DT, save).final_state

    one_dev = jax.jit(final)
    split = jax.jit(final)
    text = split.lower(sharded).compile().as_text()
    mesh = Mesh(np.array(jax.devices()[:n_dev]), ("grid",))
    hand = ppermute_run(params, n, steps, mesh)
    y0 = problem.initial_state
    row = NamedSharding(mesh, P("grid", None))
    u0, v0 = jax.device_put(y0[0], row), jax.device_put(y0[1], row)
    seconds = median_seconds(
        {
            "one_device": lambda: jax.block_until_ready(one_dev(problem)),
            "compiler_halo": lambda: jax.block_until_ready(split(sharded)),
            "ppermute_halo": lambda: jax.block_until_ready(hand(u0, v0)),
        },
        repeats=args.repeats,
        warmup=1,
    )
    y_one, y_split = np.asarray(one_dev(problem)), np.asarray(split(sharded))
    u_hand = np.asarray(hand(u0, v0)[0])
    # Bytes per step: each slab sends its first and last row of the diffused state to its
    # neighbours (one row per internal boundary and direction); the interior moves the state
    # (u, v read and written, float32) of every cell.
    item = jnp.dtype(dtype).itemsize
    halo = 2 * (n_dev - 1) * n * item
    interior = 2 * 2 * n * n * item
    for name in ("one_device", "compiler_halo", "ppermute_halo"):
        emit(
            {
                "case": f"grid_{name}",
                "device": device_kind(),
                "devices": 1 if name == "one_device" else n_dev,
                "n": n,
                "steps": steps,
                "seconds": seconds[name],
                "cell_steps_per_s": n * n * steps / seconds[name],
                "time_over_one_device": seconds[name] / seconds["one_device"],
                "halo_bytes_per_step": 0 if name == "one_device" else halo,
                "interior_bytes_per_step": interior,
                "max_abs_diff_vs_one_device": float(
                    np.max(np.abs((y_split if name == "compiler_halo" else y_one)[0] - y_one[0]))
                    if name != "ppermute_halo"
                    else np.max(np.abs(u_hand - y_one[0]))
                ),
                "collectives": collectives(text) if name == "compiler_halo" else None,
            }
        )

    # Members split over devices: shard_map against a sharded vmap.
    b, m = args.members, args.member_size
    base = make_problem(m, params, d, dtype)
    design = msim.ensemble.given({"cell.k": np.linspace(7.5, 8.5, b)})
    save_m = msim.Save(every=1.0, probes=[(m // 2, m // 2)], snapshots=False)

    def ensemble(devices, strategy):
        return lambda: msim.ensemble.simulate(
            base, design, t_end, DT, save_m, chunk_size=b, devices=devices, strategy=strategy,
            progress=False,
        )  # fmt: skip

    cases = {
        "members_one_device": ensemble(None, "shard_map"),
        "members_shard_map": ensemble(n_dev, "shard_map"),
        "members_sharded_vmap": ensemble(n_dev, "jit"),
    }
    sec = median_seconds(cases, repeats=args.repeats, warmup=1)
    ref = cases["members_one_device"]()["traces"]
    for name, fn in cases.items():
        emit(
            {
                "case": name,
                "device": device_kind(),
                "devices": 1 if name == "members_one_device" else n_dev,
                "members": b,
                "member_n": m,
                "steps": steps,
                "seconds": sec[name],
                "time_over_one_device": sec[name] / sec["members_one_device"],
                "max_abs_diff_vs_one_device": float(np.max(np.abs(fn()["traces"] - ref))),
            }
        )

    # A paper estimate (not measured): 8 GPUs of H200 class, a grid split along x.
    bandwidth = 4.3e12  # B/s, device memory, measured on one H200 (device-to-device copy)
    link = 450e9  # B/s per direction per GPU, NVLink 4 (vendor figure): an assumption
    latency = 10e-6  # s per neighbour exchange (order of a small NCCL send/recv): an assumption
    per_cell = 2 * 2 * item  # u, v read and written, float32 (the roofline's minimum)
    for shape in ((4096, 4096), (512, 512, 512)):
        cells = float(np.prod(shape))
        plane = cells / shape[0]
        for g in (1, 2, 4, 8):
            compute = cells / g * per_cell / bandwidth
            comm = 0.0 if g == 1 else latency + 2 * plane * item / link
            weak_compute = cells * per_cell / bandwidth  # the same cells per GPU
            emit(
                {
                    "case": "estimate_scaling",
                    "estimate": True,
                    "grid": list(shape),
                    "gpus": g,
                    "assumptions": {"hbm_Bps": bandwidth, "link_Bps": link, "latency_s": latency},
                    "strong_step_s": compute + comm,
                    "strong_speedup": (cells * per_cell / bandwidth) / (compute + comm),
                    "weak_efficiency": weak_compute / (weak_compute + comm),
                    "halo_bytes_per_gpu_per_step": 0 if g == 1 else 2 * plane * item,
                }
            )


if __name__ == "__main__":
    main()
