import pytest
from steprun import wait_booted


@pytest.fixture(scope="module")
def fresh(lab):
    """The lab reset to its seeded state once per test module, old and new booted."""
    lab.reset()
    wait_booted("old", "new")
    return lab
