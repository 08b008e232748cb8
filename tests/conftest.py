"""Shared test setup: hypothesis profiles and a fresh seed for every test.

The 'ci' profile (default) keeps the suite within minutes on two cores; run
``pytest --hypothesis-profile=thorough`` for a longer search."""
import pytest
from hypothesis import HealthCheck, settings

import minigrad

settings.register_profile("ci", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _seed_and_default_dtype():
    minigrad.manual_seed(0)
    yield
    minigrad.set_default_dtype(minigrad.float32)
