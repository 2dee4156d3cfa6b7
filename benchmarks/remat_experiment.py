"""Diagnostic: what per-step rematerialisation would do to msim's gradient cost.

msim's reverse mode checkpoints blocks of about ``sqrt(steps)`` steps, but inside a block JAX
stores every residual of every step: about 17 grid-sized arrays per step for Aliev-Panfilov,
against a carry of 3 (u, v, activation times). Wrapping the step itself in ``jax.checkpoint``
would store only the carry per step and recompute the step in the backward pass.

This script measures that proposal without editing msim: with ``--mode remat`` it replaces the
private ``msim.solve._simulate._scan`` by a copy whose step is wrapped in ``jax.checkpoint``,
before anything is traced, then runs the `gradient.py` case. Run each mode in its own process
(the patch must precede the first trace, and compiled programs are cached per process):

    python benchmarks/remat_experiment.py --mode plain --cases 128:1000 128:4000
    python benchmarks/remat_experiment.py --mode remat --cases 128:1000 128:4000

One JSON line per ``size:steps`` case, as gradient.py's, with ``"mode"`` set to ``checkpointed`` or
``checkpointed+remat_step``. The patch is a measurement device, not a supported configuration.
"""

import argparse

import jax
import jax.lax as lax
import jax.numpy as jnp
from _harness import emit


def remat_scan(f, carry, n: int, block: int):
    """msim's ``_scan`` with ``f`` under ``jax.checkpoint``: a block's backward pass stores one
    carry per step and recomputes each step, instead of storing all of its residuals."""
    f = jax.checkpoint(f)
    if block >= n or block <= 1:
        return lax.scan(f, carry, None, length=n)
    q, r = divmod(n, block)

    @jax.checkpoint
    def body(c, _):
        return lax.scan(f, c, None, length=block)

    carry, ys = lax.scan(body, carry, None, length=q)
    ys = jax.tree.map(lambda a: a.reshape(q * block, *a.shape[2:]), ys)
    if r:
        carry, ys_r = lax.scan(f, carry, None, length=r)
        ys = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), ys, ys_r)
    return carry, ys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=["plain", "remat"], required=True)
    parser.add_argument(
        "--cases", nargs="+", default=["128:1000"], help="grid side and step count, SIZE:STEPS"
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.mode == "remat":
        from msim.solve import _simulate

        _simulate._scan = remat_scan
    import gradient  # after the patch

    for case in args.cases:
        size, steps = (int(x) for x in case.split(":"))
        record = gradient.run_case(size, steps, True, args.repeats, execute=True)
        record["case"] = "gradient_remat_experiment"
        if args.mode == "remat":
            record["mode"] = "checkpointed+remat_step"
        emit(record)


if __name__ == "__main__":
    main()
