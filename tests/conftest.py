"""Shared fixtures. Float64 is opt-in per test (``x64`` fixture) so the diffusion tests keep float32."""
import jax
import pytest


@pytest.fixture
def x64():
    """Run the test with jax_enable_x64 (closed-form comparisons need float64 tolerances)."""
    with jax.enable_x64(True):
        yield
