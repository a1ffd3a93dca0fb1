"""Shared fixtures: every test that takes ``device`` runs on each available backend, and a
Hypothesis profile for CI that is thorough but keeps the suite within a few minutes (tests
scale their example counts from the loaded profile, never fix them).

With ``TINYGRAD_RNN_REQUIRE_TORCH=1`` (set by .ci/run, which installs torch) a torch that is
missing or fails to import stops the run, and a test skipped for want of torch fails: the
oracle tests cannot vanish silently."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import tinygrad_rnn as tg

settings.register_profile("dev", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("ci", max_examples=40, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

REQUIRE_TORCH = os.environ.get("TINYGRAD_RNN_REQUIRE_TORCH") == "1"
if REQUIRE_TORCH:
    import torch  # noqa: F401  (an ImportError here is the point: torch was expected)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    # a skip's longrepr is (path, line, reason): look at the reason only, not at a file name
    # such as test_torch_ops.py, whose CUDA cases skip for want of a GPU
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if REQUIRE_TORCH and report.skipped and "torch" in reason.lower():
        report.outcome = "failed"
        report.longrepr = f"skipped for want of torch although TINYGRAD_RNN_REQUIRE_TORCH=1: {report.longrepr}"

DEVICES = [pytest.param("cpu"),
           pytest.param("cuda", marks=pytest.mark.skipif(not tg.cuda_available(), reason="no CUDA device"))]


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    tg.manual_seed(0)
    np.random.seed(0)
