"""What a user sees for each hostile call of msim's Python API: runs the cases held by the
tests (tests/test_robustness.py, tests/user_view/inputs.py) and prints a markdown table with
the exception and the first line of msim's message, for validation/robustness.md.

    python validation/robustness.py > /tmp/api_cases.md

Run without the test suite's type-check hook (plain Python), as a user's program runs.
"""

import pathlib
import sys

import jax

import msim

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import test_robustness as transforms  # noqa: E402
from tests.user_view import inputs  # noqa: E402


def _seen(call) -> str:
    try:
        jax.block_until_ready(call())
    except Exception as e:  # what the user sees, whatever it is
        text = str(e)
        lines = [line for line in text.splitlines() if "msim." in line] or text.splitlines()
        line = lines[-1] if "msim." in text else lines[0]
        line = line.split("EquinoxRuntimeError: ")[-1].strip()
        cut = line if len(line) <= 110 else line[:107] + "..."
        return f"`{type(e).__name__}`: {cut}"
    return "returns"


def _row(*cells: str) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def main() -> None:
    print(_row("case", "what the user sees now", "test"))
    print(_row("---", "---", "---"))
    test = "tests/test_robustness.py::test_a_nan_run_raises_with_msims_message_whatever_the_transformation"
    for name, call in transforms.TRANSFORMS:
        print(_row(f"NaN run under {name}", _seen(call), f"`{test}[{name}]`"))
    test = "tests/test_robustness.py::test_traced_bad_values_are_checked_at_run_time"
    for name, f, value, _ in transforms.TRACED:
        seen = _seen(lambda f=f, value=value: jax.jit(f)(value))
        print(_row(f"traced {name} (jit)", seen, f"`{test}[{name}]`"))
    test = "tests/test_robustness.py::test_a_protocol_that_blows_up_raises_or_returns_its_code"
    blown = msim.cells.AlievPanfilov(k=transforms.BLOWS_UP)
    for name, protocol in transforms.PROTOCOLS:
        seen = _seen(lambda protocol=protocol: protocol(blown))
        print(_row(f"NaN run of msim.protocols.{name}", seen, f"`{test}[{name}]`"))
    test = "tests/user_view/inputs.py::test_bad_inputs_are_refused_where_they_enter"
    for name, call, _, _ in inputs.CASES:
        print(_row(name, _seen(call), f"`{test}[{name}]`"))


if __name__ == "__main__":
    jax.config.update("jax_enable_x64", True)
    main()
