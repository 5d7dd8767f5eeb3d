"""run_parallel / each_host: old's and new's steps side by side, with stand-in steps and hosts."""

import threading
import time

import pytest
from invoke import Context
from invoke.exceptions import Exit

from fabfile import session as session_mod
from fabfile.output import LineWriter
from fabfile.errors import RemoteError
from fabfile.steps import each_host, run_parallel, step, step_states
from fakes import fake_session


@pytest.fixture
def swap(tmp_path):
    session, _ = fake_session(tmp_path)
    CALLS.clear()
    FAIL.clear()
    FAILED.clear()
    yield session
    session_mod.set_current(None)


CALLS = []
FAIL = set()
MET = threading.Event()
FAILED = threading.Event()


def _body(s):
    CALLS.append(s.info.ids[0])
    if s.info.ids[0] in FAIL:
        FAILED.set()
        raise RemoteError(f"{s.info.ids[0]} broke on purpose")
    s.session.journal.write("change", host=s.host.alias, task=s.info.task_name, step=s.info.ids[0], path=f"/etc/{s.info.ids[0]}")


@step("D1", role="old", namespace="p", name="d-one")
def d1(s):
    """D1 (old): stand-in; waits until new's first step has started (proves the lanes overlap)."""
    assert MET.wait(5), "new's lane did not run alongside old's"
    _body(s)


@step("D4", role="old", namespace="p", name="d-four")
def d4(s):
    """D4 (old): stand-in."""
    _body(s)


@step("N1", role="new", namespace="p", name="n-one")
def n1(s):
    """N1 (new): stand-in."""
    MET.set()
    _body(s)


@step("N2", role="new", namespace="p", name="n-two")
def n2(s):
    """N2 (new): stand-in; still running when old's lane fails (waits for that failure, not for a time)."""
    if FAIL:
        assert FAILED.wait(5), "old's lane never failed"
        time.sleep(0.1)  # the failing lane records its failure
    _body(s)


@step("N3", role="new", namespace="p", name="n-three")
def n3(s):
    """N3 (new): stand-in."""
    _body(s)


def lanes():
    return {"old": [d1, d4], "new": [n1, n2, n3]}


def test_lanes_run_side_by_side_each_in_its_order(swap):
    MET.clear()
    done = run_parallel(Context(), lanes(), "p")
    assert sorted(done) == sorted(["p.d-one", "p.d-four", "p.n-one", "p.n-two", "p.n-three"])
    assert CALLS.index("D1") < CALLS.index("D4") and CALLS.index("N1") < CALLS.index("N2") < CALLS.index("N3")
    state = step_states(swap.journal.records())
    assert all(state[s]["event"] == "done" for s in ("D1", "D4", "N1", "N2", "N3"))
    assert isinstance(swap.out, LineWriter)
    lines = swap.out.getvalue().splitlines()
    assert all(line.startswith(("== ", "[")) for line in lines if line)  # whole lines, never two interleaved


def test_a_failure_stops_both_lanes_after_their_step_and_says_what_was_done(swap, capsys):
    MET.clear()
    FAIL.add("D4")
    with pytest.raises(Exit) as info:
        run_parallel(Context(), lanes(), "p")
    assert "p stopped at p.d-four on old" in info.value.message
    err = capsys.readouterr().err
    assert "p: stopped: old at p.d-four: D4 failed: D4 broke on purpose" in err
    assert "old: done: p.d-one; not done: p.d-four" in err
    # new was in N2 when old failed: N2 ends, N3 is not started, and that is said
    assert "new: done: p.n-one, p.n-two; not done: p.n-three (not started: a failure in old)" in err
    assert "N3" not in CALLS
    # resume: only what is not done runs
    FAIL.clear()
    CALLS.clear()
    MET.set()
    run_parallel(Context(), {"old": [d4], "new": [n1, n2, n3]}, "p")
    assert sorted(CALLS) == ["D4", "N3"]


def test_step_mode_runs_the_lanes_one_after_the_other(swap, monkeypatch):
    MET.set()
    monkeypatch.setattr("builtins.input", lambda prompt: "c")
    run_parallel(Context(), lanes(), "p", step=True, force=True)
    assert CALLS == ["D1", "D4", "N1", "N2", "N3"]


def test_each_host_names_the_failing_host_and_what_the_other_did(swap):
    @step("C8", role=None, namespace="p", name="swap")
    def swap_both(s):
        """C8 (old, new): stand-in."""
        def work(host):
            if host.alias == "new":
                raise RemoteError("new: /etc/hosts refused")
            return host.alias
        return each_host(s, ("old", "new"), work, "the swap")

    with pytest.raises(Exit) as info:
        swap_both(Context())
    message = info.value.message
    assert "the swap failed on new: new: /etc/hosts refused; done on old" in message
