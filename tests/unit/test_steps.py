"""The @step contract around a step body: host choice, role guard, journal, errors.

The hosts here are stand-ins: what is under test is the logic deciding which
machine a step may touch, not SSH (the lab tests prove that on real hosts).
"""

import json

import pytest
from fabric import Connection
from invoke import Context
from invoke.exceptions import Exit

from fabfile import session as session_mod
from fabfile.journal import Journal

from fabfile.steps import step
from fakes import fake_session


@pytest.fixture
def swap_session(tmp_path):
    session, names = fake_session(tmp_path)
    yield session, names
    session_mod.set_current(None)


@step("D3", role="old", namespace="phase3", name="disable-services")
def disable_services(s):
    """D3 (old): test stand-in."""
    s.host.touched.append("D3")
    return s.host.alias


def journal_events(session):
    return [(r["step"], r["event"], r.get("host")) for r in session.journal.records()]


def test_role_default_runs_on_the_role_host_not_locally(swap_session):
    session, _ = swap_session
    assert disable_services(Context()) == "old"
    assert journal_events(session) == [("D3", "start", "old"), ("D3", "done", "old")]


def test_wrong_host_for_the_task_is_refused_before_connecting(swap_session):
    session, _ = swap_session
    with pytest.raises(Exit) as info:
        disable_services(Connection("new"))
    assert "disable-services is for old; new (ika-itpass) is not old" in str(info.value.message)
    assert "new" not in session.hosts
    assert journal_events(session)[-1][:2] == ("D3", "failed")


def test_machine_with_the_wrong_name_is_refused(swap_session):
    session, names = swap_session
    names["old"] = "ika-itpass"  # the address of old answers as new
    with pytest.raises(Exit) as info:
        disable_services(Connection("old"))
    assert "says it is 'ika-itpass'" in info.value.message
    assert session.hosts["old"].touched == []


def test_after_the_swap_the_after_name_is_expected(swap_session):
    session, names = swap_session
    session.journal.write("note", host="old", step="C10", swapped=True)
    names["old"] = "old-itpass"
    assert disable_services(Connection("old")) == "old"


def test_unknown_alias_is_a_one_line_error(swap_session):
    with pytest.raises(Exit) as info:
        disable_services(Connection("198.18.0.22"))
    assert "unknown host '198.18.0.22'" in info.value.message
    assert len(info.value.message.splitlines()) == 1


def test_dry_run_journals_no_done(swap_session):
    session, _ = swap_session
    session.dry = True
    disable_services(Context())
    assert [e[1] for e in journal_events(session)] == ["start"]


def test_every_runbook_step_is_a_task_whose_help_names_it():
    """fab --list must make the runbook mapping obvious: each phase task's help starts with its step ID(s)."""
    import re

    import fabfile

    runbook = ["P1", "P2", "P3", "P4", "Z1", "S1", "S2", "S3", "S4"] + [f"C{i}" for i in range(1, 11)] + \
        ["D1", "D2", "D3", "D4", "D5", "N1", "N2", "N3", "V1", "V2", "V3", "V4", "V5", "V6", "B1", "A1", "A2", "A3"]
    helps = []
    for phase in fabfile.PHASES:
        collection = fabfile.ns.collections[phase]
        for name, task in collection.tasks.items():
            first = (task.__doc__ or "").strip().splitlines()[0]
            assert re.match(r"^[PZSCDNVBA]\d+", first), f"{phase}.{name}: help line {first!r} does not start with a step ID"
            helps.append(first)
    named = set(re.findall(r"\b[PZSCDNVBA]\d+\b", " ".join(h.split(":")[0] for h in helps)))
    missing = [sid for sid in runbook if sid not in named]
    assert not missing, f"runbook steps with no task: {missing}"


def test_journal_records_are_json_lines_without_contents(swap_session):
    session, _ = swap_session
    disable_services(Context())
    lines = open(session.journal.path).read().splitlines()
    for line in lines:
        record = json.loads(line)
        assert {"time", "run", "user", "host", "task", "step", "event"} <= set(record)


def test_journal_swap_state_is_per_host(tmp_path):
    j = Journal(tmp_path / "j.jsonl")
    j.write("note", host="old", step="C10", swapped=True)
    j.write("note", host="new", step="C10", swapped=True)
    j.write("note", host="new", step="C10", swapped=False)
    assert j.swapped("old") and not j.swapped("new") and not j.swapped("backup")
