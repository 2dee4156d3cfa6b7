"""Fingerprints of what determines a calibration's result, so that a checkpoint is resumed only
by the same run.

A fingerprint is a SHA-256 digest of a canonical description of an object: arrays by dtype,
shape and bytes; numbers and strings by value; equinox modules, dataclasses, named tuples and
containers by their fields; functions by their code, the values they close over and the globals
they read (arrays, numbers, strings, modules of msim's kind and other functions, to a fixed
depth; functions of msim, JAX, optax, equinox and NumPy by their names and the values they
close over, not their code). Nothing depends on memory addresses or on Python's per-process
hash seed, so the same script gives the same fingerprint in a new process. Objects with
``__array__`` (pandas, xarray) count by their values, other objects by their attributes
(``vars``); one with neither (slots, a C type) contributes its type's name only: the fingerprint
is a guard against the common mistakes (new data, another start, an edited loss, other optimiser
settings), not a proof of identity.
"""

import dataclasses
import functools
import hashlib
import types
from typing import Any

import equinox as eqx
import jax
import numpy as np

_MAX_DEPTH = 12
# Functions of these packages are described by name and the values they close over, not by
# their code: upgrading one of them does not make a checkpoint belong to another run.
_LIBRARIES = frozenset({"msim", "jax", "jaxlib", "optax", "equinox", "numpy", "diffrax"})


def digest(obj: Any) -> str:
    """The fingerprint of ``obj``, a hex string."""
    h = hashlib.sha256()
    _Describer(h).add(obj, 0)
    return h.hexdigest()


def leaf_digests(tree: Any) -> dict[str, str]:
    """One fingerprint per leaf of a pytree, keyed by its path (``"cell.k"``), plus ``"."`` for
    everything static (the tree's structure and static fields)."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    out = {jax.tree_util.keystr(path).lstrip("."): digest(leaf) for path, leaf in leaves}
    static = jax.tree.map(lambda _: None, tree)  # the structure with every array left out
    out["."] = digest((str(treedef.num_leaves), static))
    return out


class _Describer:
    def __init__(self, h):
        self.h = h
        self.seen: set[int] = set()

    def token(self, *parts: Any) -> None:
        for p in parts:
            self.h.update(str(p).encode())
            self.h.update(b"\x00")

    def add(self, obj: Any, depth: int) -> None:
        if depth > _MAX_DEPTH:
            self.token("deep")
            return
        if obj is None or isinstance(obj, bool | int | float | complex | str | bytes):
            self.token(type(obj).__name__, repr(obj))
            return
        if isinstance(obj, np.generic):
            self.token("np", obj.dtype, repr(obj.item()))
            return
        if isinstance(obj, np.ndarray | jax.Array):
            x = np.asarray(obj)
            self.token("array", x.dtype, x.shape)
            self.h.update(np.ascontiguousarray(x).tobytes())
            return
        if isinstance(obj, types.ModuleType):
            self.token("module", obj.__name__)
            return
        if isinstance(obj, type):
            self.token("type", obj.__module__, obj.__qualname__)
            return
        key = id(obj)
        if key in self.seen:
            self.token("cycle")
            return
        self.seen.add(key)
        d = depth + 1
        if isinstance(obj, dict):
            self.token("dict", len(obj))
            for k in sorted(obj, key=repr):
                self.add(k, d)
                self.add(obj[k], d)
        elif isinstance(obj, tuple | list | set | frozenset):
            items = sorted(obj, key=repr) if isinstance(obj, set | frozenset) else obj
            self.token(type(obj).__name__, len(items))
            for x in items:
                self.add(x, d)
        elif isinstance(obj, functools.partial):
            self.token("partial")
            self.add((obj.func, obj.args, obj.keywords), d)
        elif isinstance(obj, types.MethodType):
            self.token("method")
            self.add((obj.__func__, obj.__self__), d)
        elif isinstance(obj, types.FunctionType):
            self.function(obj, d)
        elif isinstance(obj, eqx.Module) or dataclasses.is_dataclass(obj):
            self.token("fields", type(obj).__module__, type(obj).__qualname__)
            for field in dataclasses.fields(obj):
                self.token(field.name)
                self.add(getattr(obj, field.name, None), d)
        elif hasattr(obj, "__wrapped__"):  # jax.jit and functools.wraps wrappers
            self.token("wrapped", type(obj).__qualname__)
            self.add(obj.__wrapped__, d)
        elif hasattr(obj, "array") and isinstance(getattr(obj, "array", None), np.ndarray):
            self.token("holder", type(obj).__qualname__)  # e.g. a grid's static mask
            self.add(obj.array, d)
        elif hasattr(obj, "__array__") and _as_array(obj) is not None:
            self.token("array-like", type(obj).__qualname__)  # pandas, xarray, ...
            self.add(_as_array(obj), d)
        elif hasattr(obj, "__dict__"):  # a user's object: by its attributes
            self.token("object", type(obj).__module__, type(obj).__qualname__)
            self.add(dict(vars(obj)), d)
        else:
            self.token("object", type(obj).__module__, type(obj).__qualname__)

    def function(self, f: types.FunctionType, depth: int) -> None:
        self.token("function", f.__module__, f.__qualname__)
        library = (f.__module__ or "").split(".")[0] in _LIBRARIES
        if not library:  # a library's code is its version's; the values it closes over count
            self.code(f.__code__, depth)
        self.add(f.__defaults__, depth)
        self.add(f.__kwdefaults__, depth)
        for cell in f.__closure__ or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                value = None
            self.add(value, depth)
        for name in [] if library else _global_names(f.__code__):
            if name in f.__globals__:
                self.token(name)
                self.add(f.__globals__[name], depth)

    def code(self, code: types.CodeType, depth: int) -> None:
        self.token("code", code.co_argcount, code.co_names, code.co_varnames)
        self.h.update(code.co_code)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self.code(const, depth + 1)
            else:
                self.add(const, depth + 1)


def _as_array(obj) -> np.ndarray | None:
    try:
        x = np.asarray(obj)
    except Exception:  # an __array__ that refuses: described otherwise
        return None
    return None if x.dtype.hasobject else x


def _global_names(code: types.CodeType) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.extend(_global_names(const))
    return sorted(set(names))
