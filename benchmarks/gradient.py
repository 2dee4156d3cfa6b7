"""Reverse-mode gradient through `msim.simulate`: time and memory relative to the forward run.

Aliev-Panfilov in 2D, ``--size`` squared cells (default 128), float32, the plane-wave problem of
`_harness`. The loss depends on the cell parameter ``k`` and on the diffusivity ``D``::

    loss(k, D) = mean(u_final) + mean(activation time over activated cells) / t_end

(the activation mean is NaN-safe: cells that never activate are excluded from both sums). Both
functions are jitted with ``(k, D)`` as traced arguments:

- forward: ``loss``;
- gradient: ``jax.value_and_grad(loss)``.

Reported per step count, after warm-up (compile excluded), medians of ``--repeats`` interleaved
runs: ``grad_over_forward`` (time ratio); the compiled executables' memory analysis
(``memory_analysis()``: the temporary buffers XLA plans, on every backend); and, when the
device reports allocator statistics (GPU) and ``--isolate`` runs each case in its own process,
``peak_bytes_in_use`` after the forward run and after the gradient run.

msim checkpoints the scan in blocks of about ``sqrt(steps)`` steps, so the gradient's memory
should grow like ``steps^0.5``. The summary line gives the growth exponent
``log(mem2 / mem1) / log(steps2 / steps1)`` between consecutive step counts. A baseline mode
with ``gradient=msim.ReverseMode(block=steps)`` (one block: no checkpointing, every step's
residuals stored) shows linear growth: its memory analysis is compiled (not run) at every step
count, and it is run and timed only at the counts in ``--no-checkpoint-steps``.

The time step is the forward benchmark's ``dt = 0.05``. The diffusivity is traced here, so msim
cannot choose sub-steps in advance: it takes one diffusion step per time step and checks the
stability limit ``h^2 / (4 D) = 0.0625`` at run time.

Run from the repository root: ``python benchmarks/gradient.py --size 128 --steps 1000 4000
16000``; on a GPU add ``--isolate`` for per-case allocator peaks.
"""

import argparse
import json
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
from _harness import DT, cell_parameters, device_kind, emit, log, median_seconds, problem

import msim


def make_loss(n: int, steps: int, block: int | None):
    t_end = steps * DT
    save = msim.Save(every=None, snapshots=False)
    base = cell_parameters(jnp.float32)

    def loss(theta):
        k, diffusivity = theta
        prob = problem(n, base | {"k": k}, diffusivity, jnp.float32)
        sol = msim.simulate(prob, t_end=t_end, dt=DT, save=save, gradient=msim.ReverseMode(block))
        t_act = sol.activation_times
        activated = jnp.isfinite(t_act)
        mean_activation = jnp.sum(jnp.where(activated, t_act, 0.0)) / jnp.maximum(
            jnp.sum(activated), 1
        )
        return jnp.mean(sol.final_state[0]) + mean_activation / t_end

    return loss


def memory(compiled) -> dict[str, int]:
    stats = compiled.memory_analysis()
    return {
        "temp_bytes": int(stats.temp_size_in_bytes),
        "argument_bytes": int(stats.argument_size_in_bytes),
        "output_bytes": int(stats.output_size_in_bytes),
    }


def allocator_peak() -> int | None:
    stats = jax.devices()[0].memory_stats()
    return None if not stats else int(stats.get("peak_bytes_in_use", -1))


def block_length(steps: int, checkpointed: bool) -> int:
    """The checkpoint block msim uses: its default ``isqrt(steps - 1) + 1``, or all steps."""
    return max(1, math.isqrt(steps - 1) + 1) if checkpointed else steps


def run_case(n: int, steps: int, checkpointed: bool, repeats: int, execute: bool) -> dict:
    """One case. Without ``execute`` only the memory analysis is compiled (nothing runs)."""
    block = block_length(steps, checkpointed)
    loss = make_loss(n, steps, None if checkpointed else block)
    theta = (jnp.asarray(8.0, jnp.float32), jnp.asarray(1.0, jnp.float32))
    forward = jax.jit(loss).lower(theta).compile()
    gradient = jax.jit(jax.value_and_grad(loss)).lower(theta).compile()
    record = {
        "case": "gradient_aliev_panfilov_2d",
        "mode": "checkpointed" if checkpointed else "no_checkpoint",
        "n": n,
        "steps": steps,
        "dt": DT,
        "checkpoint_block": block,
        "dtype": "float32",
        "device": device_kind(),
        "carry_bytes": 3 * n * n * 4,  # u, v and the activation times
        "forward_memory": memory(forward),
        "grad_memory": memory(gradient),
    }
    record["grad_over_forward_temp"] = record["grad_memory"]["temp_bytes"] / max(
        1, record["forward_memory"]["temp_bytes"]
    )
    if not execute:
        record["executed"] = False
        return record
    # Forward first: the allocator's peak after it is the forward peak, and the gradient's
    # (larger) peak comes after. Meaningful only in a fresh process (--isolate).
    jax.block_until_ready(forward(theta))
    forward_peak = allocator_peak()
    value, grads = jax.block_until_ready(gradient(theta))
    grad_peak = allocator_peak()
    seconds = median_seconds(
        {"forward": lambda: forward(theta), "grad": lambda: gradient(theta)}, repeats, warmup=1
    )
    record |= {
        "executed": True,
        "repeats": repeats,
        "forward_s": seconds["forward"],
        "grad_s": seconds["grad"],
        "grad_over_forward": seconds["grad"] / seconds["forward"],
        "loss": float(value),
        "dloss_dk": float(grads[0]),
        "dloss_dD": float(grads[1]),
        "finite_grads": bool(jnp.all(jnp.isfinite(jnp.stack(grads)))),
    }
    if forward_peak is not None:
        record["forward_peak_bytes_in_use"] = forward_peak
        record["grad_peak_bytes_in_use"] = grad_peak
    return record


def forward_mode_case(n: int, steps: int, repeats: int) -> dict:
    """Forward mode for three parameters (k, a, D): ``jax.jacfwd`` of the same loss, one
    compiled call carrying three tangents, against the forward run."""
    t_end = steps * DT
    save = msim.Save(every=None, snapshots=False)
    base = cell_parameters(jnp.float32)

    def loss(theta):
        k, a, diffusivity = theta[0], theta[1], theta[2]
        prob = problem(n, base | {"k": k, "a": a}, diffusivity, jnp.float32)
        sol = msim.simulate(prob, t_end=t_end, dt=DT, save=save)
        t_act = sol.activation_times
        activated = jnp.isfinite(t_act)
        mean_activation = jnp.sum(jnp.where(activated, t_act, 0.0)) / jnp.maximum(
            jnp.sum(activated), 1
        )
        return jnp.mean(sol.final_state[0]) + mean_activation / t_end

    theta = jnp.asarray([8.0, 0.15, 1.0], jnp.float32)
    forward = jax.jit(loss).lower(theta).compile()
    jacobian = jax.jit(jax.jacfwd(loss)).lower(theta).compile()
    reverse = jax.jit(jax.grad(loss)).lower(theta).compile()
    seconds = median_seconds(
        {
            "forward": lambda: forward(theta),
            "jacfwd": lambda: jacobian(theta),
            "reverse": lambda: reverse(theta),
        },
        repeats,
        warmup=1,
    )
    jac, grad = jacobian(theta), reverse(theta)
    return {
        "case": "forward_mode_aliev_panfilov_2d",
        "n": n,
        "steps": steps,
        "n_parameters": 3,
        "dtype": "float32",
        "device": device_kind(),
        "repeats": repeats,
        "forward_s": seconds["forward"],
        "jacfwd_s": seconds["jacfwd"],
        "reverse_s": seconds["reverse"],
        "jacfwd_over_forward": seconds["jacfwd"] / seconds["forward"],
        "reverse_over_forward": seconds["reverse"] / seconds["forward"],
        "jacfwd_temp_bytes": memory(jacobian)["temp_bytes"],
        "max_rel_diff_forward_vs_reverse": float(
            jnp.max(jnp.abs(jac - grad) / jnp.maximum(jnp.abs(grad), 1e-12))
        ),
    }


def growth(records: list[dict], mode: str) -> dict:
    """Memory growth exponents between consecutive step counts of one mode."""
    rs = sorted((r for r in records if r["mode"] == mode), key=lambda r: r["steps"])
    keys = {
        "grad_temp_bytes": lambda r: r["grad_memory"]["temp_bytes"],
        "grad_peak_bytes_in_use": lambda r: r.get("grad_peak_bytes_in_use"),
    }
    out = {
        "case": "gradient_memory_growth",
        "mode": mode,
        "n": rs[0]["n"] if rs else None,
        "device": rs[0]["device"] if rs else None,
        "steps": [r["steps"] for r in rs],
    }
    for name, key in keys.items():
        values = [key(r) for r in rs]
        if any(v is None or v <= 0 for v in values):
            continue
        out[name] = values
        out[name + "_exponents"] = [
            math.log(m2 / m1) / math.log(s2 / s1)
            for (s1, m1), (s2, m2) in zip(
                zip(out["steps"], values, strict=True),
                zip(out["steps"][1:], values[1:], strict=True),
                strict=False,
            )
        ]
    return out


def cases(args) -> list[tuple[int, bool, bool]]:
    """``(steps, checkpointed, execute)`` for every case this invocation covers."""
    out = [(s, True, True) for s in args.steps]
    for s in sorted(set(args.steps) | set(args.no_checkpoint_steps)):
        out.append((s, False, s in args.no_checkpoint_steps))
    return out


def run_isolated(args, todo: list[tuple[int, bool, bool]]) -> list[dict]:
    """The cases in a fresh Python process, one JSON line each."""
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--size", str(args.size),
        "--repeats", str(args.repeats),
        "--cases", json.dumps(todo),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0:
        log(result.stderr[-4000:])
        lines = result.stderr.strip().splitlines()
        done = {(r["steps"], r["mode"]) for r in records}
        for steps, checkpointed, _ in todo:
            mode = "checkpointed" if checkpointed else "no_checkpoint"
            if (steps, mode) not in done:
                records.append(
                    {
                        "case": "gradient_aliev_panfilov_2d",
                        "mode": mode,
                        "n": args.size,
                        "steps": steps,
                        "error": lines[-1] if lines else f"exit status {result.returncode}",
                    }
                )
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, nargs="+", default=[1000, 4000, 16000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--no-checkpoint-steps",
        type=int,
        nargs="*",
        default=[1000],
        help="step counts at which the no-checkpoint baseline is run and timed (its memory "
        "analysis is compiled at every --steps count regardless); none to skip running it",
    )
    parser.add_argument(
        "--no-checkpoint-analysis",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="compile the no-checkpoint baseline at every --steps count for its memory analysis",
    )
    parser.add_argument(
        "--isolate",
        action="store_true",
        help="run each executed case in a fresh process (GPU: per-case allocator peaks)",
    )
    parser.add_argument(
        "--forward-mode",
        type=int,
        nargs="*",
        default=[],
        metavar="STEPS",
        help="also time forward mode (jax.jacfwd) for three parameters at these step counts",
    )
    parser.add_argument("--cases", help=argparse.SUPPRESS)  # JSON list, set by --isolate
    args = parser.parse_args()
    for steps in args.forward_mode:
        emit(forward_mode_case(args.size, steps, args.repeats))

    if args.cases:
        for steps, checkpointed, execute in json.loads(args.cases):
            emit(run_case(args.size, steps, checkpointed, args.repeats, execute))
        return

    todo = cases(args)
    if not args.no_checkpoint_analysis:
        todo = [c for c in todo if c[1] or c[2]]
    log(f"gradient: {args.size}^2, steps {args.steps}, {len(todo)} cases, isolate={args.isolate}")
    records = []
    if args.isolate:
        # The parent never touches the device (it would hold memory the children need): one
        # child per executed case, and one for all the compile-only cases together.
        groups = [[c] for c in todo if c[2]] + [[c for c in todo if not c[2]]]
        for group in filter(None, groups):
            for record in run_isolated(args, group):
                emit(record)
                records.append(record)
    else:
        for steps, checkpointed, execute in todo:
            record = run_case(args.size, steps, checkpointed, args.repeats, execute)
            emit(record)
            records.append(record)
    ok = [r for r in records if "error" not in r]
    for mode in ("checkpointed", "no_checkpoint"):
        if sum(r["mode"] == mode for r in ok) >= 2:
            emit(growth(ok, mode))


if __name__ == "__main__":
    main()
