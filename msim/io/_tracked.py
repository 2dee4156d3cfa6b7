"""Trackers' results (``Solution.tracked``) as named arrays plus a JSON description, and back:
the one encoding shared by result files (`save_solution`) and run stores (``msim.run(store=)``).

Each result is an `equinox.Module`: its array fields become entries ``tracked/<name>/<field>``
and its static fields go into the description (``{"class", "static", "arrays"}``), so nothing
is pickled and nothing read from a file is imported or evaluated. The results of msim's own
trackers (`msim.observe.BeatTimes`, `msim.observe.TipTrack`) come back as themselves, checked
field by field against the grid; a result of any other class comes back as a plain dict of its
fields (msim cannot know how to rebuild it).
"""

import dataclasses
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ..observe import BeatTimes, TipTrack

PREFIX = "tracked/"

# Each known result class: per field, the dtype kinds allowed and the axes after any batch
# axes. An axis is a size, a symbol shared within one result ("count", "frames", "tips"), or
# "*grid" (the grid's axes).
_LAYOUTS: dict[type, dict[str, tuple[str, tuple[Any, ...]]]] = {
    BeatTimes: {
        "activation": ("f", ("count", "*grid")),
        "repolarisation": ("f", ("count", "*grid")),
        "n_beats": ("iu", ("*grid",)),
        "last": ("f", ("*grid",)),
        "previous": ("f", ("*grid",)),
        "v_rest": ("f", ("*grid",)),
        "v_peak": ("f", ("*grid",)),
        "armed": ("b", ("*grid",)),
    },
    TipTrack: {
        "positions": ("f", ("frames", "tips", 2)),
        "charges": ("iu", ("frames", "tips")),
        "counts": ("iu", ("frames",)),
        "times": ("f", ("frames",)),
        "previous": ("f", ("*grid",)),
    },
}
KNOWN = {cls.__name__: cls for cls in _LAYOUTS}


class TrackedError(ValueError):
    """Why stored tracker results cannot be read (``why``, for the caller's message)."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


def _static(field: dataclasses.Field) -> bool:
    return bool(field.metadata.get("static", False))


def _json_scalar(x: Any) -> bool:
    return x is None or isinstance(x, bool | int | float | str)


def encode(tracked: dict) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """``(description, arrays)`` of the tracker results ``tracked`` ({name: result module}).

    Raises `TypeError` for a result that is not an `equinox.Module` of arrays and plain static
    values (numbers, strings, booleans, None), which a file could not hold without pickling.
    """
    if not isinstance(tracked, dict):
        raise TypeError(f"Solution.tracked must be a dict, got {type(tracked).__name__}.")
    description: dict[str, dict] = {}
    arrays: dict[str, np.ndarray] = {}
    for name, result in tracked.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise TypeError(f"tracker names must be non-empty strings without '/', got {name!r}.")
        if not isinstance(result, eqx.Module):
            raise TypeError(
                f"the result of tracker {name!r} is a {type(result).__name__}, not an "
                "equinox.Module of arrays: it cannot be written to a file."
            )
        static, fields = {}, []
        for field in dataclasses.fields(result):
            value = getattr(result, field.name)
            if _static(field):
                if not _json_scalar(value):
                    raise TypeError(
                        f"tracker {name!r}: static field {field.name!r} holds a "
                        f"{type(value).__name__}; only numbers, strings, booleans and None can "
                        "be written to a file."
                    )
                static[field.name] = value
            elif value is not None:
                try:
                    array = np.asarray(value)
                except (TypeError, ValueError):
                    array = np.asarray(None)
                if array.dtype.hasobject:
                    raise TypeError(
                        f"tracker {name!r}: field {field.name!r} holds a {type(value).__name__}, "
                        "not an array."
                    )
                arrays[f"{PREFIX}{name}/{field.name}"] = array
                fields.append(field.name)
        description[name] = {"class": type(result).__name__, "static": static, "arrays": fields}
    return description, arrays


def decode(
    description: Any,
    arrays: dict[str, np.ndarray],
    batch: tuple[int, ...],
    grid: tuple[int, ...],
) -> dict[str, Any]:
    """The tracker results from `encode`'s ``(description, arrays)``, as JAX arrays.

    ``arrays`` holds the ``tracked/...`` entries (all of them: an entry that the description
    does not name is refused). Known classes are checked against ``batch`` (the leading axes
    of a ``vmap``ped run) and ``grid``; others come back as dicts of their fields. Raises
    `TrackedError` saying what disagrees.
    """
    if not isinstance(description, dict):
        raise TrackedError(f"its tracker description is not a dict ({description!r})")
    expected: set[str] = set()
    out: dict[str, Any] = {}
    for name, entry in description.items():
        if (
            not isinstance(entry, dict)
            or set(entry) != {"class", "static", "arrays"}
            or not isinstance(entry["class"], str)
            or not isinstance(entry["static"], dict)
            or not isinstance(entry["arrays"], list)
            or not all(isinstance(f, str) for f in entry["arrays"])
        ):
            raise TrackedError(f"its description of tracker {name!r} is malformed ({entry!r})")
        fields = {}
        for field in entry["arrays"]:
            key = f"{PREFIX}{name}/{field}"
            if key not in arrays:
                raise TrackedError(f"tracker {name!r} has no array {field!r} ({key!r})")
            fields[field] = arrays[key]
            expected.add(key)
        cls = KNOWN.get(entry["class"])
        if cls is None:
            out[name] = {**{k: jnp.asarray(v) for k, v in fields.items()}, **entry["static"]}
            continue
        _check_known(name, cls, fields, entry["static"], batch, grid)
        out[name] = cls(**{k: jnp.asarray(v) for k, v in fields.items()}, **entry["static"])
    unknown = sorted(set(arrays) - expected)
    if unknown:
        raise TrackedError(f"it holds tracker arrays that its description does not name: {unknown}")
    return out


def _check_known(
    name: str,
    cls: type,
    fields: dict[str, np.ndarray],
    static: dict[str, Any],
    batch: tuple[int, ...],
    grid: tuple[int, ...],
) -> None:
    layout = _LAYOUTS[cls]
    names = {f.name for f in dataclasses.fields(cls) if _static(f)}
    if set(fields) != set(layout) or set(static) != names:
        raise TrackedError(
            f"tracker {name!r} ({cls.__name__}) has fields {sorted(fields)} and static "
            f"{sorted(static)}; {cls.__name__} has {sorted(layout)} and {sorted(names)}"
        )
    if cls is BeatTimes:
        level = static["level"]
        if not isinstance(level, int | float) or isinstance(level, bool) or not 0 < level < 1:
            raise TrackedError(f"tracker {name!r} has APD level {level!r}, not in (0, 1)")
    sizes: dict[str, int] = {}
    for field, (kinds, axes) in layout.items():
        array = fields[field]
        where = f"tracker {name!r}'s {field!r}"
        if array.dtype.kind not in kinds:
            raise TrackedError(f"{where} has dtype {array.dtype}")
        want: list[Any] = list(batch)
        for axis in axes:
            want.extend(grid if axis == "*grid" else [axis])
        if array.ndim != len(want):
            raise TrackedError(
                f"{where} has shape {array.shape}: not {len(want)} axes (batch {batch}, grid "
                f"{grid})"
            )
        for size, got in zip(want, array.shape, strict=True):
            if isinstance(size, str):
                size = sizes.setdefault(size, got)
            if size != got:
                raise TrackedError(
                    f"{where} has shape {array.shape}, which disagrees with the grid {grid}, the "
                    f"batch {batch} or its other fields"
                )
