"""How a simulation ended: a result code per run (per member under `vmap`), and the one
exception type a failed simulation raises."""

import equinox as eqx


class RESULTS(eqx.Enumeration):
    """The outcome of a simulation, in `Solution.result` (one per member under `jax.vmap`).

    Compare with ``==``: ``sol.result == msim.RESULTS.successful`` is a boolean array.
    """

    successful = ""
    nan = "the state became NaN or infinite"
    unstable = (
        "dt is above the explicit diffusion stability limit for the diffusivity values given "
        "at run time"
    )
    invalid_diffusivity = "a diffusivity given at run time is negative, NaN or infinite"
    invalid_stimulus = (
        "a stimulus given at run time has a NaN or infinite start, duration, period or "
        "amplitude, a pulse shorter than dt, or a duration longer than its period"
    )
    max_steps = (
        "the adaptive solver reached its maximum number of steps before the end time (the "
        "tolerance cannot be met in that many steps)"
    )
    linear_solver = (
        "the iterative linear solver (conjugate gradients) of an implicit or elliptic step did "
        "not converge to its tolerance within its maximum number of iterations"
    )


SimulationError = eqx.EquinoxRuntimeError
"""The exception a failed simulation raises, wherever it surfaces: `msim.simulate` and
`msim.run` with ``throw=True``, `msim.calibrate.calibrate`, and any function of the user's
that calls them under `equinox.filter_jit`, `jax.grad` or `jax.vmap`. It is equinox's run-time
error type, the one `equinox.error_if` raises from inside compiled code, so that a failure
found inside a compiled program and one found on the host are caught alike. (Under a plain
`jax.jit` of the user's, JAX itself wraps it in a `jax.errors.JaxRuntimeError` that carries
msim's message; wrap with `equinox.filter_jit` instead to get this type.)"""
