"""What the lab tests run on each profile.

The seed profile (the default) runs every lab test. The modern profile
(LAB_PROFILE=modern: systemd, Debian's stock files) runs the tests whose
outcome depends on the kind of host: the init system, unit names, Debian's
stock sshd and BIND layout, the services seen from outside, and the whole
runbook end to end (test_rehearsal). A module or test named below is skipped
there, with its reason on the skip line, for one of two reasons:
- it is written against the seed's own layout (rc links, init script modes,
  /usr/local/bind), and its modern counterpart is named in the reason;
- what it tests does not depend on the profile (the journal, transactions,
  host keys, a cut link, the host layer): the same code on the same kind of
  SSH connection, already proven on seed. Running both doubles CI time.
LAB_EVERYTHING=1 runs every lab test on the modern profile too.
"""

import os

import pytest
from steprun import wait_booted

_MODERN_ELSEWHERE = "on modern: test_modern_lab.py ({}) and test_rehearsal.py (the whole runbook)"
SEED_ONLY = {  # module or module::test -> why it does not run on the modern profile
    "test_phase0_lab.py": "the seed's /usr/local/bind layout; " + _MODERN_ELSEWHERE.format("Z1 through named.conf's includes"),
    "test_phase3_lab.py": "the seed's rc links, init scripts and /usr/local/bind; " + _MODERN_ELSEWHERE.format("D3, D5, N3"),
    "test_after_lab.py": "the seed's /usr/local/bind layout; " + _MODERN_ELSEWHERE.format("Z1; A1-A3 in the rehearsal"),
    "test_phase1_lab.py": "the seed's init scripts in its dry-run lines; " + _MODERN_ELSEWHERE.format("S2-S4 in the rehearsal"),
    "test_phase2_lab.py": "the seed's /usr/local/bind zones; on modern: test_rehearsal.py (phase2 whole, C10 on ifupdown)",
    "test_faults_kill.py": "journal and transactions: the same code on both profiles (proven on seed)",
    "test_faults_link.py": "a cut link, a reboot, a changed host key: the same SSH code on both profiles (proven on seed)",
    "test_failures_lab.py": "failure paths of the host layer and the settings: the same on both profiles (proven on seed)",
    "test_remote.py": "the host layer over SSH: the same on both profiles (proven on seed)",
    "test_resume.py": "the journal's resume: the same on both profiles (proven on seed)",
    "test_backout_lab.py::test_backout_before_the_night_is_a_noop": "a no-op run: the same on both profiles (proven on seed)",
    "test_lab.py::test_conflict_fixture": "the lab's own fixtures: the same on both profiles (proven on seed)",
    "test_lab.py::test_a_cut_link_hangs_connections_and_comes_back": "the lab's bridge: the same on both profiles (proven on seed)",
    "test_lab.py::test_rekey_gives_a_host_a_new_host_key": "the lab's host keys: the same on both profiles (proven on seed)",
}
_MODERN_BACKOUT_POINTS = ("after phase3", "failed V")  # the points where the most units were changed


def _seed_only_reason(item) -> str | None:
    module = item.path.name
    name = item.originalname if hasattr(item, "originalname") else item.name
    reason = SEED_ONLY.get(module) or SEED_ONLY.get(f"{module}::{name}")
    if reason is None and module == "test_backout_lab.py" and hasattr(item, "callspec"):
        point = item.callspec.id
        if not any(point == p for p in _MODERN_BACKOUT_POINTS):
            reason = f"backout from {point}: on modern only from {' and '.join(_MODERN_BACKOUT_POINTS)} (the init system's part)"
    return reason


def pytest_collection_modifyitems(config, items):
    import lab.api as api

    if api.PROFILE != "modern" or os.environ.get("LAB_EVERYTHING") == "1":
        return
    for item in items:
        reason = _seed_only_reason(item)
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"seed profile only: {reason}"))


@pytest.fixture(scope="module")
def fresh(lab):
    """The lab reset to its seeded state once per test module, old and new booted."""
    lab.reset()
    wait_booted("old", "new")
    return lab
