"""Shared by the command-line tests: a refused command and a read-only folder."""

import pytest

from msim.cli import main


def refused(argv, capsys, message: str) -> str:
    """``main(argv)`` exits with status 2 and one line on stderr naming the problem."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert err.count("\n") == 1 and err.startswith(f"msim {argv[0]}: error: "), err
    assert "Traceback" not in err
    assert message in err, err
    return err


def read_only(folder) -> bool:
    """Make ``folder`` read-only; False where that does not stop writes (running as root)."""
    folder.chmod(0o555)
    try:
        (folder / ".probe").touch()
    except PermissionError:
        return True
    (folder / ".probe").unlink()
    return False
