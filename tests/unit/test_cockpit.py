"""plan / status / resume / report from journals, and rehearse's order, with stand-in steps."""

import json
import re
from types import SimpleNamespace

import pytest
from invoke import Context
from invoke.exceptions import Exit

from fabfile import cockpit
from fabfile import session as session_mod
from fabfile import settings as settings_mod
from fabfile.steps import StepInfo, run_sequence, step, step_states, still_in_place
from fakes import fake_session


def rec(time, event, step=None, task=None, host=None, run="r1", **fields):
    return dict(time=f"2026-11-27T{time}+00:00", run=run, user="ops", host=host, task=task, step=step, event=event, **fields)


# -- step_states / still_in_place ------------------------------------------------------------

def test_step_states_ignore_dry_runs_and_skips():
    records = [
        rec("10:00:00", "start", "C3", "phase2.merge-accounts", "new"),
        rec("10:00:01", "change", "C3", "phase2.merge-accounts", "new", path="/etc/passwd"),
        rec("10:00:02", "done", "C3", "phase2.merge-accounts", "new", duration=2.0),
        rec("11:00:00", "start", "C3", "phase2.merge-accounts", "new", run="r2", dry=True),
        rec("11:00:01", "failed", "C3", "phase2.merge-accounts", "new", run="r2", detail="dry run could not read"),
        rec("11:30:00", "skipped", "C3", "phase2.merge-accounts", "new", run="r3", detail="done at ..."),
    ]
    state = step_states(records)["C3"]
    assert state["event"] == "done" and state["changed"] is True and state["run"] == "r1"
    assert still_in_place("C3", step_states(records))


def test_a_done_step_that_changed_nothing_runs_again():
    records = [rec("10:00:00", "start", "S1", host="new"), rec("10:00:01", "unchanged", "S1", host="new"), rec("10:00:02", "done", "S1", host="new")]
    assert step_states(records)["S1"]["changed"] is False
    assert not still_in_place("S1", step_states(records))


def test_opening_root_login_is_not_in_place_once_closed_again():
    records = [rec("10:00:00", "start", "P1"), rec("10:00:01", "change", "P1"), rec("10:00:02", "done", "P1")]
    assert still_in_place("P1", step_states(records))
    records += [rec("10:05:00", "start", "P4"), rec("10:05:01", "change", "P4"), rec("10:05:02", "done", "P4")]
    assert not still_in_place("P1", step_states(records))
    records += [rec("11:00:00", "start", "P1", run="r2"), rec("11:00:01", "change", "P1", run="r2"), rec("11:00:02", "done", "P1", run="r2")]
    assert still_in_place("P1", step_states(records))


def test_a_failed_step_is_not_in_place():
    records = [rec("10:00:00", "start", "C4"), rec("10:00:01", "change", "C4"), rec("10:00:02", "failed", "C4", detail="rsync killed")]
    assert not still_in_place("C4", step_states(records))


# -- run_sequence: resume, --force, --step ---------------------------------------------------------


@pytest.fixture
def swap(tmp_path):
    session, _ = fake_session(tmp_path)
    CALLS.clear()
    FAIL.clear()
    yield session
    session_mod.set_current(None)


CALLS = []
FAIL = set()


def _body(s, changes=True):
    CALLS.append((s.info.ids[0], s.session.dry))
    if s.info.ids[0] in FAIL:
        from fabfile.remote import RemoteError

        raise RemoteError(f"{s.info.ids[0]} broke on purpose")
    if changes and not s.session.dry:
        s.session.journal.write("change", host=s.host.alias, task=s.info.task_name, step=s.info.ids[0], path=f"/etc/{s.info.ids[0]}", backup=f"/etc/{s.info.ids[0]}.bak")


@step("C2", role="new", namespace="t", name="copy-crontabs")
def t_c2(s):
    """C2 (new): stand-in."""
    _body(s)


@step("C3", role="new", namespace="t", name="merge-accounts")
def t_c3(s):
    """C3 (new): stand-in."""
    _body(s)


@step("S1", role="new", namespace="t", name="check-resolver")
def t_s1(s):
    """S1 (new): stand-in that changes nothing."""
    _body(s, changes=False)


SEQ = [t_s1, t_c2, t_c3]


def test_resume_skips_done_steps_whose_change_is_in_place(swap, capsys):
    run_sequence(Context(), SEQ, "t")
    assert [c[0] for c in CALLS] == ["S1", "C2", "C3"]
    CALLS.clear()
    assert run_sequence(Context(), SEQ, "t") == ["t.check-resolver"]
    assert [c[0] for c in CALLS] == ["S1"]          # S1 changed nothing: it runs again
    out = swap.out.getvalue()
    assert re.search(r"C2 t.copy-crontabs: done at 2\S+ \S+, skipped \(--force runs it again\)", out)
    skipped = [r for r in swap.journal.records() if r["event"] == "skipped"]
    assert [r["step"] for r in skipped] == ["C2", "C3"]


def test_force_runs_everything_again(swap):
    run_sequence(Context(), SEQ, "t")
    CALLS.clear()
    run_sequence(Context(), SEQ, "t", force=True)
    assert [c[0] for c in CALLS] == ["S1", "C2", "C3"]
    CALLS.clear()
    swap.force = True                               # rehearse --force sets it on the session
    run_sequence(Context(), SEQ, "t")
    assert [c[0] for c in CALLS] == ["S1", "C2", "C3"]


def test_stop_half_way_then_resume_ends_like_an_uninterrupted_run(swap, capsys):
    FAIL.add("C3")
    with pytest.raises(Exit) as info:
        run_sequence(Context(), SEQ, "t")
    assert "t stopped at t.merge-accounts" in info.value.message
    err = capsys.readouterr().err
    assert "done: t.check-resolver, t.copy-crontabs" in err and "not done: t.merge-accounts" in err
    FAIL.clear()
    CALLS.clear()
    run_sequence(Context(), SEQ, "t")
    assert [c[0] for c in CALLS] == ["S1", "C3"]
    state = step_states(swap.journal.records())
    assert {sid: state[sid]["event"] for sid in ("S1", "C2", "C3")} == {"S1": "done", "C2": "done", "C3": "done"}


def test_step_mode_asks_yes_no_continue(swap, monkeypatch):
    answers = iter(["n", "y", "c"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    run_sequence(Context(), SEQ + [t_c3], "t", step=True, force=True)
    # S1: no; C2: yes; C3: continue (runs, and stops asking); C3 again: not asked
    assert [c[0] for c in CALLS] == ["C2", "C3", "C3"]
    no = [r for r in swap.journal.records() if r["event"] == "skipped"]
    assert no[0]["step"] == "S1" and "answered no" in no[0]["detail"]


def test_step_mode_without_a_terminal_stops(swap, monkeypatch):
    def eof(prompt):
        raise EOFError

    monkeypatch.setattr("builtins.input", eof)
    with pytest.raises(Exit):
        run_sequence(Context(), SEQ, "t", step=True)
    assert CALLS == []


# -- plan and status -----------------------------------------------------------------------------

def infos():
    """A runbook of stand-ins, in the registry's row form (phase, step ID, info); P1 first as in the real one."""
    p1 = StepInfo(("P1",), ("allow root login on new",), "new", ("new",), "allow-root-login", "prep")
    v6 = StepInfo(("V6",), ("DNS on old and new",), None, ("old", "new"), "check-dns", "phase4")
    b1 = StepInfo(("B1",), ("the backup still runs",), "backup", ("backup",), "check-backup", "phase4")
    return [("prep", "P1", p1), ("phase1", "S1", t_s1.serverswap_step), ("phase2", "C2", t_c2.serverswap_step),
            ("phase2", "C3", t_c3.serverswap_step), ("phase4", "V6", v6), ("phase4", "B1", b1)]


JOURNAL = [
    rec("09:00:00", "start", "S1", "t.check-resolver", "new"), rec("09:00:01", "done", "S1", "t.check-resolver", "new", duration=1.0),
    rec("09:10:00", "start", "C2", "t.copy-crontabs", "new"), rec("09:10:01", "change", "C2", "t.copy-crontabs", "new", path="/var/spool/cron/crontabs/u", backup="/var/spool/cron/crontabs/u.bak"),
    rec("09:10:03", "done", "C2", "t.copy-crontabs", "new", duration=3.0),
    rec("09:20:00", "start", "C3", "t.merge-accounts", "new"), rec("09:20:05", "failed", "C3", "t.merge-accounts", "new", detail="conflict: uid 1001", duration=5.0),
]


def test_plan_rows_follow_the_runbook_with_states():
    rows = cockpit.plan_rows(JOURNAL, infos(), ["V1 the wiki accepts an edit"])
    ids = [r["id"] for r in rows]
    assert ids == ["P1", "S1", "C2", "C3", "V6", "B1", "(V)"]
    by = {r["id"]: r for r in rows}
    assert by["S1"]["state"] == "done at 2026-11-27 09:00:01"
    assert by["C3"]["state"] == "FAILED at 2026-11-27 09:20:05: conflict: uid 1001"
    assert by["P1"]["state"] == "not done" and by["P1"]["title"] == "allow root login on new"
    assert by["V6"]["host"] == "old, new" and by["C2"]["host"] == "new" and by["C2"]["kind"] == "automated" and by["V6"]["kind"] == "check"
    manual = [r for r in rows if r["id"] == "(V)"]
    assert manual[0]["state"] == "pending" and ids.index("(V)") == ids.index("B1") + 1
    text = cockpit.format_plan(rows)
    assert text.splitlines()[0].split() == ["ID", "task", "host", "kind", "state"]


def test_manual_answers_show_in_the_plan():
    records = JOURNAL + [rec("10:00:00", "manual", "V1", "phase4.manual", item="V1 the wiki accepts an edit", answer="yes")]
    rows = cockpit.plan_rows(records, infos(), ["V1 the wiki accepts an edit"])
    assert [r["state"] for r in rows if r["id"] == "(V)"] == ["confirmed at 2026-11-27 10:00:00"]


def test_status_says_where_the_swap_stands():
    settings = settings_mod.load(settings_mod.DEFAULT_HOSTS_FILE)
    records = JOURNAL + [rec("09:30:00", "note", "C10", host="old", swapped=True),
                         rec("09:40:00", "check", "V6", "phase4.check-dns", "new", check="V6 dns itpass", ok=False, expected="a", seen="b")]
    lines = cockpit.status_lines(records, infos(), settings)
    text = "\n".join(lines)
    assert "last done: C2 t.copy-crontabs at 2026-11-27 09:10:03" in text
    assert "next: P1 prep.allow-root-login (allow root login on new)" in text
    assert "FAILED: C3 t.merge-accounts at 2026-11-27 09:20:05: conflict: uid 1001" in text
    assert "old: SWAPPED, reached at 133.30.109.21 as old-itpass" in text
    assert "new: not swapped, reached at 133.30.109.21 as ika-itpass" in text
    assert "checks: 0 OK, 1 FAIL (V6 dns itpass)" in text


def test_the_registry_is_the_runbook_in_order():
    from fabfile.steps import runbook

    ids = [sid for _phase, sid, _info in runbook()]
    assert ids[:5] == ["P1", "P2", "P3", "P4", "Z1"] and ids.index("C2") < ids.index("C3") < ids.index("D1")
    assert ids.index("D4") < ids.index("D3") and ids[-3:] == ["A1", "A2", "A3"] and len(ids) == len(set(ids)) == 37
    assert all(info.title_of(sid) and info.hosts for _phase, sid, info in runbook())


def test_plan_task_with_diff_dry_runs_only_pending_steps(swap, monkeypatch):
    from fabfile.cockpit import tasks as cockpit_tasks

    monkeypatch.setattr(cockpit_tasks, "runbook", infos)
    run_sequence(Context(), [t_s1, t_c2], "t")
    CALLS.clear()
    rows = cockpit_tasks.plan(Context(), diff=True)
    assert CALLS == [("C3", True)]                  # only the pending step, and in dry run
    assert swap.dry is False                        # back to real afterwards
    assert not any(r["event"] == "change" for r in swap.journal.records() if r["step"] == "C3")
    assert "what the pending steps would change now" in swap.out.getvalue()
    assert {r["id"]: r["state"][:4] for r in rows if r["id"] in ("S1", "C2", "C3")} == {"S1": "done", "C2": "done", "C3": "not "}


# -- the report ----------------------------------------------------------------------------------

NIGHT = [
    rec("20:00:00", "start", "S2", "phase1.stop-services", "old"),
    rec("20:00:01", "change", "S2", "phase1.stop-services", "old", detail="/etc/init.d/apache2 stop"),
    rec("20:00:02", "change", "S2", "phase1.stop-services", "old", detail="/etc/init.d/qmail stop"),
    rec("20:00:03", "done", "S2", "phase1.stop-services", "old", duration=3.0),
    rec("20:10:00", "start", "C3", "phase2.merge-accounts", "new"),
    rec("20:10:01", "change", "C3", "phase2.merge-accounts", "new", path="/etc/shadow", backup="/etc/shadow.serverswap-20261127T201001"),
    rec("20:10:02", "done", "C3", "phase2.merge-accounts", "new", duration=2.0),
    rec("20:15:00", "start", "C3", "phase2.merge-accounts", "new", run="dry1", dry=True),
    rec("20:50:00", "start", "V1", "phase4.check-http", None),
    rec("20:50:01", "check", "V1", "phase4.check-http", "new", check="V1 http http://itpass/", ok=True, expected="2xx", seen="200 OK"),
    rec("20:50:02", "done", "V1", "phase4.check-http", None, duration=2.0),
    rec("20:51:00", "check", "V5", "phase4.check-old-closed", "old", check="V5 smtp rcpt a@itpass", ok=False, expected="5xx", seen="250 ok", detail="old still accepts <mail>"),
    rec("20:52:30", "check", "V6", "phase4.check-dns", "new", check="V6 dns itpass", ok=True, expected="133.30.109.22", seen="133.30.109.22"),
    rec("20:53:00", "manual", "V1", "phase4.manual", item="V1 the wiki accepts an edit", answer="yes"),
]


def test_service_window_from_first_stop_on_old_to_last_passing_check_on_new():
    w = cockpit.service_window(NIGHT)
    assert w["start"].startswith("2026-11-27T20:00:01") and w["end"].startswith("2026-11-27T20:52:30")
    assert w["seconds"] == 52 * 60 + 29 and w["end_what"] == "V6 dns itpass" and "apache2 stop" in w["start_what"]
    assert cockpit.service_window(NIGHT[:4])["end"] is None


def test_report_model_timeline_changes_checks_manual():
    model = cockpit.build_report(NIGHT, manual_items=["V1 the wiki accepts an edit", "clients use APOP"])
    assert [(e["step"], e["outcome"], e["changes"]) for e in model["executions"]] == [("S2", "done", 2), ("C3", "done", 1), ("V1", "done", 0)]
    assert model["dry_executions"] == 1
    assert [c.get("backup") for c in model["changes"]] == [None, None, "/etc/shadow.serverswap-20261127T201001"]
    assert [c["check"] for c in model["checks"]] == ["V1 http http://itpass/", "V5 smtp rcpt a@itpass", "V6 dns itpass"]
    assert [(m["item"], m["answer"]) for m in model["manual"]] == [("V1 the wiki accepts an edit", "yes"), ("clients use APOP", "pending")]


def test_report_html_is_self_contained_and_escaped():
    page = cockpit.render_html(cockpit.build_report(NIGHT, manual_items=[]))
    assert page.startswith("<!DOCTYPE html>") and "<table id=\"timeline\">" in page and "<table id=\"checks\">" in page
    assert "old still accepts &lt;mail&gt;" in page and "<mail>" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)     # nothing fetched from elsewhere
    assert page.count('class="step"') == 3 and page.count('class="check"') == 3
    assert "52m29s" in page


def test_report_markdown_tables():
    md = cockpit.render_markdown(cockpit.build_report(NIGHT, manual_items=[]))
    assert "## Timeline" in md and "| S2 | phase1.stop-services | old |" in md
    assert "| V5 smtp rcpt a@itpass | old | 5xx | 250 ok | FAIL |" in md
    assert "**52m29s**" in md


def test_report_task_writes_html_and_markdown(swap, tmp_path):
    with open(swap.journal.path, "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in NIGHT)
    from fabfile.cockpit import tasks as cockpit_tasks

    path = cockpit_tasks.report(Context())
    assert path == tmp_path / "reports" / "report.html" and path.exists() and path.with_suffix(".md").exists()
    assert f"report: {path}" in swap.out.getvalue()


# -- rehearse ------------------------------------------------------------------------------------

def test_rehearse_runs_phases_in_order_stops_at_failure_and_writes_the_report(swap, monkeypatch, capsys):
    ran, reboots = [], []

    def phase(name, fail=False):
        @step(f"{name}-all", role=None, namespace=name, name="all", default=True)
        def all_(s, reboot=False):
            """stand-in phase."""
            ran.append(name)
            reboots.append(reboot)
            if fail:
                from fabfile.remote import RemoteError

                raise RemoteError("broke")

        return SimpleNamespace(all=all_)

    from fabfile.cockpit import tasks as cockpit_tasks

    modules = {"prep": phase("prep"), "phase0": phase("phase0"), "phase1": phase("phase1", fail=True), "phase2": phase("phase2")}
    monkeypatch.setattr(cockpit_tasks, "load_phases", lambda names=None: modules)
    with pytest.raises(Exit):
        cockpit_tasks.rehearse(Context(), yes=True, force=True)
    assert ran == ["prep", "phase0", "phase1"]
    assert reboots == [False, False, False]        # D5 is not inside phase3: it runs after phase4's checks (off new's critical path)
    assert swap.force is True and swap.assume_yes is True
    err = capsys.readouterr().err
    assert "rehearsal stopped in phase1" in err and "phases done: prep, phase0" in err and "not done: phase1, phase2, phase3, phase4" in err
    assert (cockpit_tasks.Path(swap.settings.operator.report_dir) / "report.html").exists()


def test_rehearse_stops_when_a_phase_has_no_tasks(swap, monkeypatch, capsys):
    from fabfile.cockpit import tasks as cockpit_tasks

    monkeypatch.setattr(cockpit_tasks, "load_phases", lambda names=None: {})
    with pytest.raises(Exit):
        cockpit_tasks.rehearse(Context())
    assert "no default task for prep" in capsys.readouterr().err


def test_a_steps_own_check_record_without_a_verdict_is_a_note():
    records = [rec("10:00:00", "check", "S1", "phase1.check-resolver", "new", path="/etc/resolv.conf", detail="ok")]
    model = cockpit.build_report(records)
    assert [cockpit.verdict(c) for c in model["checks"]] == ["NOTE"]
    assert "NOTE" in cockpit.render_markdown(model) and "S1 phase1.check-resolver" in cockpit.render_markdown(model)
    assert not any(line.startswith("checks:") for line in cockpit.status_lines(records, []))


def test_a_dry_run_failing_before_its_start_is_not_a_failure(swap):
    @step("C9", role="new", namespace="t", name="dry-breaks")
    def breaks(s):
        """C9 (new): stand-in."""

    swap.dry = True
    swap.host = lambda alias: (_ for _ in ()).throw(__import__("fabfile.errors").errors.RemoteError("new: cannot reach"))
    with pytest.raises(Exit):
        breaks(Context())
    failed = [r for r in swap.journal.records() if r["event"] == "failed"]
    assert failed and failed[0]["dry"] is True
    assert "C9" not in step_states(swap.journal.records())


def test_force_from_the_environment(swap, monkeypatch):
    run_sequence(Context(), SEQ, "t")
    CALLS.clear()
    monkeypatch.setenv("SERVERSWAP_FORCE", "1")
    run_sequence(Context(), SEQ, "t")
    assert [c[0] for c in CALLS] == ["S1", "C2", "C3"]
