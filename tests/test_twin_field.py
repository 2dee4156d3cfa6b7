"""A small version of the diffusivity-field twin experiment (validation/twin_diffusivity_field.py):
a low-conductivity patch recovered, cell by cell, from two noisy activation maps."""

import pathlib
import sys

import jax.numpy as jnp

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "validation"))

from twin_diffusivity_field import run


def test_field_twin_experiment_recovers_the_patch():
    r = run(n=24, iterations=120, progress=False, dtype=jnp.float64)
    # The fitted model reproduces the noise-free activation maps far inside the 1% noise...
    assert r["activation_rmse"] < 0.02 * r["total_activation_time"]
    assert r["activation_rmse"] < 0.25 * r["activation_rmse_initial"]
    # ...and the field itself moves most of the way from the uniform start to the truth.
    assert r["field_error"] < 0.5 * r["field_error_initial"], r["field_error"]
    assert r["never_activated"] == 0
