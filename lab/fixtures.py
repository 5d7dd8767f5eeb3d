"""pytest fixtures for the lab (tests/conftest.py: pytest_plugins = ["lab.fixtures"]).

- `lab` (session): brings the lab up once, in its seeded state (a reset:
  LAB_NO_RESET=1 keeps the roots as they are), takes it down at the end of the
  session; skips with the reason when the lab cannot run here (not root, no
  debootstrap, ...). Set LAB_KEEP=1 to leave it up after the session.
- `fresh_lab` (function): the lab reset to its seeded state first.
Mark lab tests with `pytestmark = pytest.mark.lab`.
The profile is LAB_PROFILE's (seed by default, or modern): the same fixtures
bring up either kind of hosts.
"""
from __future__ import annotations

import os

import pytest

from . import api, build
from .build import LabError


def pytest_configure(config):
    config.addinivalue_line("markers", "lab: needs the lab (root, debootstrap, namespaces)")


@pytest.fixture(scope="session")
def lab():
    try:
        build.require()
    except LabError as e:
        if os.environ.get("LAB_REQUIRED") == "1":   # scripts/test (CI): a lab that cannot come up is a failure
            pytest.fail(f"lab unavailable ({api.PROFILE} profile): {e}", pytrace=False)
        pytest.skip(f"lab unavailable ({api.PROFILE} profile): {e}")
    if os.environ.get("LAB_NO_RESET"):
        api.up()
    else:
        api.reset()
    yield api
    if not os.environ.get("LAB_KEEP"):
        api.down()


@pytest.fixture
def fresh_lab(lab):
    api.reset()
    return api
