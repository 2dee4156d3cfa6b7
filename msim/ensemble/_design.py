"""Designs: which values the members of an ensemble take, sampled over bounded (optionally
log-scaled) ranges by `scipy.stats.qmc`, seeded, and recorded with the results."""

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import qmc

from .._convert import real
from .._paths import parse_path

METHODS = ("sobol", "latin_hypercube", "random", "grid")
"""The design methods: `sample`'s three (a seeded sequence or draw) and `grid`'s full factorial."""


@dataclasses.dataclass(frozen=True)
class Range:
    """A bounded range of one scalar value of the members, found by its path.

    Args:
        path: where the value lives in the problem (``"cell.g_Kr"``,
            ``"conductivity.diffusivity"``, ``"stimuli[0].amplitude"``), or in the cell model
            for `population` (``"g_Kr"``).
        lo, hi: the bounds, in the parameter's own units, ``lo < hi``.
        log: sample uniformly in ``log(x)`` rather than ``x`` (for rate constants and
            conductance scalings spanning a factor of several); needs ``lo > 0``.
    """

    path: str
    lo: float | int
    hi: float | int
    log: bool = False

    def __post_init__(self):
        parse_path(self.path)
        lo, hi = real(self.lo, f"Range {self.path!r} lo"), real(self.hi, f"Range {self.path!r} hi")
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"Range {self.path!r}: bounds must be finite, got ({lo}, {hi}).")
        if not lo < hi:
            raise ValueError(
                f"Range {self.path!r}: lo must be below hi, got lo={lo}, hi={hi} (reversed?)."
            )
        if not isinstance(self.log, bool):
            raise TypeError(f"Range {self.path!r}: log must be True or False, got {self.log!r}.")
        if self.log and lo <= 0:
            raise ValueError(f"Range {self.path!r}: a log-scaled range needs lo > 0, got {lo}.")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    def scale(self, u: np.ndarray) -> np.ndarray:
        """Map points ``u`` of the unit interval onto the range."""
        if self.log:
            return np.exp(np.log(self.lo) + u * (np.log(self.hi) - np.log(self.lo)))
        return self.lo + u * (self.hi - self.lo)


@dataclasses.dataclass(frozen=True)
class Design:
    """The values of every member: ``values[path]`` has shape ``(n, ...)``.

    Attributes:
        values: per-member values by path (NumPy float64 arrays, members first).
        method: how they were chosen (one of `METHODS`, or ``"given"``).
        seed: the seed of a random design (None for grids and given values).
        ranges: the ranges sampled (empty for given values).
    """

    values: dict[str, np.ndarray]
    method: str = "given"
    seed: int | None = None
    ranges: tuple[Range, ...] = ()

    @property
    def n(self) -> int:
        """The number of members."""
        return len(next(iter(self.values.values())))

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(self.values)

    def describe(self) -> dict[str, Any]:
        """A JSON-compatible record of the design (stored with the results)."""
        return {
            "method": self.method,
            "seed": self.seed,
            "n": self.n,
            "ranges": [dataclasses.asdict(r) for r in self.ranges],
        }


def _ranges(ranges) -> tuple[Range, ...]:
    if isinstance(ranges, Range):
        ranges = [ranges]
    if isinstance(ranges, Mapping):  # {"cell.g_Kr": (lo, hi)} or (lo, hi, "log")
        items = []
        for path, spec in ranges.items():
            if isinstance(spec, Range):
                items.append(spec)
                continue
            try:
                lo, hi, *rest = spec
            except (TypeError, ValueError):
                raise ValueError(
                    f"Range {path!r}: give (lo, hi) or (lo, hi, 'log'), got {spec!r}."
                ) from None
            if rest not in ([], ["log"], ["linear"]):
                raise ValueError(f"Range {path!r}: the third entry must be 'log', got {rest}.")
            items.append(Range(path, lo, hi, log=rest == ["log"]))
        ranges = items
    ranges = tuple(ranges)
    if not ranges or not all(isinstance(r, Range) for r in ranges):
        raise TypeError(
            "ranges must be Range objects or a dict {path: (lo, hi)} with at least one entry."
        )
    paths = [r.path for r in ranges]
    twice = sorted({p for p in paths if paths.count(p) > 1})
    if twice:
        raise ValueError(f"Ranges given more than once: {twice}.")
    return ranges


def _count(n, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"{what} must be a positive integer, got {n!r}.")
    return int(n)


def sample(
    ranges: Sequence[Range] | Mapping[str, Sequence] | Range,
    n: int,
    method: str = "sobol",
    seed: int = 0,
) -> Design:
    """``n`` members sampled over ``ranges`` by ``method``, through `scipy.stats.qmc`.

    Sampling methods:
        ``"sobol"``: a scrambled Sobol' sequence (`qmc.Sobol`; best with ``n`` a power of 2,
        and scipy warns otherwise); ``"latin_hypercube"``: `qmc.LatinHypercube`;
        ``"random"``: independent uniform points (`numpy.random.default_rng`).
        For a full factorial grid use `grid`.

    Args:
        ranges: `Range` objects, or a dict ``{path: (lo, hi)}`` / ``{path: (lo, hi, "log")}``.
        n: the number of members.
        method: ``"sobol"`` (default), ``"latin_hypercube"`` or ``"random"``.
        seed: the seed (recorded in the `Design`): the same seed gives the same design.

    Example:
        ```python
        design = msim.ensemble.sample({"cell.g_Kr": (0.05, 0.3, "log")}, 1024, seed=1)
        ```
    """
    ranges = _ranges(ranges)
    n = _count(n, "n")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an integer, got {seed!r}.")
    d = len(ranges)
    if method == "sobol":
        u = qmc.Sobol(d, scramble=True, rng=np.random.default_rng(int(seed))).random(n)
    elif method == "latin_hypercube":
        u = qmc.LatinHypercube(d, rng=np.random.default_rng(int(seed))).random(n)
    elif method == "random":
        u = np.random.default_rng(int(seed)).random((n, d))
    elif method == "grid":
        raise ValueError("For a grid design use msim.ensemble.grid(ranges, points).")
    else:
        raise ValueError(f"Unknown design method {method!r}; choose one of {METHODS}.")
    values = {r.path: r.scale(u[:, i]) for i, r in enumerate(ranges)}
    return Design(values, method, int(seed), ranges)


def grid(
    ranges: Sequence[Range] | Mapping[str, Sequence] | Range, points: int | Sequence[int]
) -> Design:
    """A full factorial design: ``points`` values per range (evenly spaced, in ``log`` for a
    log-scaled range, bounds included), every combination, the last range varying fastest.

    Args:
        ranges: as for `sample`.
        points: values per range, one integer for all or one per range (each >= 2).
    """
    ranges = _ranges(ranges)
    if isinstance(points, int | np.integer) and not isinstance(points, bool):
        counts = [int(points)] * len(ranges)
    else:
        counts = list(points)  # pyright: ignore[reportArgumentType]
    points = [_count(p, "grid points per range") for p in counts]
    if len(points) != len(ranges):
        raise ValueError(f"points has {len(points)} entries for {len(ranges)} ranges.")
    if min(points) < 2:
        raise ValueError(f"A grid needs at least 2 points per range, got {points}.")
    axes = [r.scale(np.linspace(0.0, 1.0, p)) for r, p in zip(ranges, points, strict=True)]
    mesh = np.meshgrid(*axes, indexing="ij")
    values = {r.path: m.reshape(-1) for r, m in zip(ranges, mesh, strict=True)}
    return Design(values, "grid", None, ranges)


def given(values: Mapping[str, Any]) -> Design:
    """A design of values given per member: ``{path: array}``, members on the leading axis of
    every array (a scalar parameter takes shape ``(n,)``, a field ``(n, *grid)``)."""
    if isinstance(values, Design):
        return values
    if not isinstance(values, Mapping) or not values:
        raise TypeError(
            "members must be a Design (msim.ensemble.sample or grid) or a non-empty dict "
            "{path: per-member values}."
        )
    out = {}
    for path, v in values.items():
        parse_path(path)
        a = np.asarray(v)
        if a.dtype.kind not in "fiu" or a.dtype == np.bool_:
            raise TypeError(f"Members {path!r}: values must be real numbers, got {a.dtype}.")
        if a.ndim == 0:
            raise ValueError(
                f"Members {path!r}: values need a leading member axis, got a scalar; give one "
                "value per member, e.g. [0.1, 0.2, 0.3]."
            )
        if not np.isfinite(a).all():
            raise ValueError(f"Members {path!r}: values contain NaN or infinite entries.")
        out[path] = a.astype(np.float64)
    counts = {p: len(a) for p, a in out.items()}
    if len(set(counts.values())) != 1:
        raise ValueError(
            f"Every path needs the same number of members; got {counts}. (The leading axis "
            "counts members.)"
        )
    return Design(out)
