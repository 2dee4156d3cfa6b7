"""The device's copy bandwidth, measured in the same run as the benchmarks it is a ceiling for.

A jitted ``x * 1.0`` on ``--gib`` GiB of float32 (XLA cannot elide it: the result is a new
buffer) reads and writes every byte once; ``copy_gbps = 2 * bytes / time``, median of
``--repeats`` after warm-up. The roofline of a simulation step is this bandwidth divided by
the bytes a step must move per cell.

Run from the repository root: ``python benchmarks/bandwidth.py --gib 4``.
"""

import argparse

import jax
import jax.numpy as jnp
from _harness import device_kind, emit, median_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    n = int(args.gib * 2**30 / 4)
    x = jnp.ones((n,), jnp.float32)
    scale = jax.jit(lambda x: x * 1.0)
    seconds = median_seconds({"copy": lambda: scale(x)}, repeats=args.repeats, warmup=2)["copy"]
    emit(
        {
            "case": "copy_bandwidth",
            "device": device_kind(),
            "bytes": 4 * n,
            "seconds": seconds,
            "copy_gbps": 2 * 4 * n / seconds / 1e9,
        }
    )


if __name__ == "__main__":
    main()
