"""Paths into a problem's pytree (``"cell.k"``, ``"stimuli[0].amplitude"``): what
`msim.calibrate` fits and `msim.ensemble` varies, resolved the same way for both."""

import re
from typing import Any

import equinox as eqx
import jax

_TOKEN = re.compile(
    r"\.?([A-Za-z_]\w*)|\[\s*(-?\d+)\s*\]|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]"
)


def parse_path(path: str) -> tuple[str | int, ...]:
    """Split a path such as ``"stimuli[0].amplitude"`` into ``("stimuli", 0, "amplitude")``.

    Attribute names are separated by dots; ``[i]`` indexes a sequence and ``['key']`` a
    mapping. Nothing is evaluated.
    """
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"A parameter path must be a non-empty string, got {path!r}.")
    keys: list[str | int] = []
    pos, text = 0, path.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or (m.group(1) is not None and keys and text[pos] != "."):
            raise ValueError(
                f"Cannot read the parameter path {path!r} at position {pos}: write attribute "
                "names separated by dots and indices in brackets, e.g. 'cell.k', "
                "'stimuli[0].amplitude'."
            )
        if m.group(1) is not None:
            keys.append(m.group(1))
        elif m.group(2) is not None:
            keys.append(int(m.group(2)))
        else:
            keys.append(m.group(3) if m.group(3) is not None else m.group(4))
        pos = m.end()
    return tuple(keys)


def format_key(key) -> str:
    if isinstance(key, jax.tree_util.GetAttrKey):
        return f".{key.name}"
    if isinstance(key, jax.tree_util.SequenceKey):
        return f"[{key.idx}]"
    if isinstance(key, jax.tree_util.DictKey):
        return f"[{key.key!r}]"
    return str(key)


def array_paths(tree) -> tuple[str, ...]:
    """The paths of the floating-point array leaves of ``tree``, in the form `Selection` reads
    (e.g. ``"cell.k"``, ``"stimuli[0].amplitude"``)."""
    paths = []
    for keys, leaf in jax.tree_util.tree_leaves_with_path(tree):
        if eqx.is_inexact_array(leaf):
            paths.append("".join(format_key(k) for k in keys).lstrip("."))
    return tuple(paths)


def resolve(tree, keys: tuple[str | int, ...]):
    node = tree
    for key in keys:
        if isinstance(key, int) or isinstance(node, dict):
            node = node[key]
        else:
            if key.startswith("__"):
                raise AttributeError(key)
            node = getattr(node, key)
    return node


def find_array(tree, path: str, kind: str, what: str) -> tuple[tuple[str | int, ...], Any]:
    """The keys of ``path`` and the floating-point array it names in ``tree``; a ValueError
    that lists the array paths available when it names nothing, or no such array (``kind``:
    "Parameter path", "Ensemble path"; ``what``: the tree, e.g. "Monodomain problem")."""
    keys = parse_path(path)
    try:
        leaf = resolve(tree, keys)
    except (AttributeError, IndexError, KeyError, TypeError):
        leaf = None
    if not eqx.is_inexact_array(leaf):
        why = "is not in" if leaf is None else "is not a floating-point array of"
        raise ValueError(
            f"{kind} {path!r} {why} the {what}. The array parameters available are: "
            f"{', '.join(array_paths(tree))}."
        )
    return keys, leaf
