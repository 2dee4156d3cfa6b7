"""The folders the ``msim`` commands write into: checked before any compute, and cleared of
an earlier run's files (only those msim wrote, by name) before new ones are written."""

import pathlib
import tempfile
from collections.abc import Sequence


def unwritable_reason(folder: pathlib.Path, names: Sequence[str]) -> str | None:
    """Why ``folder`` cannot receive the files ``names`` (None when it can): it, or the nearest
    of its parents that exists, is not a folder or cannot be written to (a real write, which
    also sees read-only file systems and access lists), or one of ``names`` there is a folder.
    Nothing is created."""
    existing = folder
    while not (existing.exists() or existing.is_symlink()):
        existing = existing.parent
    if not existing.is_dir():
        if existing == folder:
            return f"{folder} exists and is not a folder"
        return f"{existing} is a file, so the folder {folder} cannot be made"
    for name in names:
        if (folder / name).exists() and not (folder / name).is_file():
            return f"{folder / name} is a folder, where msim writes a file of that name"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        where = "" if existing == folder else f"cannot make {folder}: "
        return f"{where}cannot write in {existing} ({e.strerror or e})"
    return None


def earlier_files(folder: pathlib.Path, names: Sequence[str]) -> list[str]:
    """The files among ``names`` that ``folder`` holds already."""
    return [name for name in names if (folder / name).is_file()]


def remove_earlier(folder: pathlib.Path, names: Sequence[str]) -> None:
    """Remove ``names`` from ``folder``, and the temporary files `msim.io.atomic_write` leaves
    for them when a run is killed mid-write; no other file is touched."""
    for name in names:
        (folder / name).unlink(missing_ok=True)
        for stale in folder.glob(f".{name}.*.tmp"):
            stale.unlink(missing_ok=True)


def check_example_folder(
    args, job: str, ignored: Sequence[tuple[str, bool]], names
) -> pathlib.Path:
    """The checks of ``--example FOLDER`` shared by the commands: no CONFIG beside it, none of
    the run's own flags (``ignored``: flag and whether it was given), and a folder that can
    take the example's files ``names`` (refusing to replace them without ``--force``).
    Returns the folder; a mistake exits with status 2 through the command's parser."""
    parser = args.subparser
    if args.config is not None:
        parser.error("give a CONFIG file or --example FOLDER, not both")
    given = [flag for flag, was_given in ignored if was_given]
    if given:
        parser.error(
            f"{' and '.join(given)} {'applies' if len(given) == 1 else 'apply'} to {job}, "
            "not to --example (which only writes the example's files)"
        )
    folder: pathlib.Path = args.example
    reason = unwritable_reason(folder, names)
    if reason is not None:
        parser.fail(f"--example: {reason}")
    earlier = earlier_files(folder, names)
    if earlier and not args.force:
        parser.fail(
            f"--example: {folder} holds {' and '.join(earlier)} already; pass --force to "
            "replace them, or choose another folder"
        )
    return folder
