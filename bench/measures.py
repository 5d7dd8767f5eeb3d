"""The five measures of issue 6, each on its own lab state (see bench/README.md).

Order of a full run: edits (fab, then Ansible, each on a fresh lab), scale
(on the state Ansible left: root login open on new), window + rsync (fresh
lab, generated /home), then a final reset so the lab is left seeded.
"""

from __future__ import annotations

import posixpath
import shlex
from datetime import datetime

from lab import api

from . import dataset
from .labrun import Bench, BenchError, exec_timed

EDIT_TASKS = ("phase0.lower-ttl", "phase3.qmail-local-only", "phase3.bouncer", "prep.allow-root-login")
WINDOW_RUNS = (("phase1",), ("phase2",), ("phase3", "--reboot"), ("phase4.check",))
PLAIN_DEST = "/var/tmp/bench-plain/"


def _time(record) -> datetime:
    return datetime.fromisoformat(record["time"])


def lab_users(host: str = "old", uid_min: int = 1000, uid_max: int = 29999) -> list[str]:
    """Users of HOST whose UID is in the range and whose home is an existing directory under /home."""
    out = api.exec(host, f"awk -F: '$3>={uid_min} && $3<={uid_max} && $6 ~ /^\\/home\\// {{print $1\":\"$6}}' /etc/passwd").stdout
    users = []
    for line in out.split():
        name, home = line.split(":", 1)
        if home == f"/home/{name}" and api.exec(host, f"test -d {shlex.quote(home)}", check=False).returncode == 0:
            users.append(name)
    if not users:
        raise BenchError(f"{host}: no user with a home under /home to own the generated files")
    return users


def make_files(job: str) -> float:
    seconds, _ = exec_timed("old", "python3 -c " + shlex.quote(dataset.MAKE_SCRIPT), input=job)
    return seconds


# ---- journal arithmetic (pure) ----------------------------------------------------

def runbook_ids() -> set[str]:
    from fabfile.steps import runbook
    return {sid for _, sid, _ in runbook()}


def window_from(records: list[dict]) -> dict:
    """Window, per-step durations, rsync (C4) and reboot (D5) time, overhead, from a journal."""
    from fabfile.cockpit import service_window

    w = service_window(records, "old", "new")
    ids = runbook_ids()
    starts = {}
    steps = []
    for r in records:
        if r.get("step") not in ids:
            continue
        if r["event"] == "start":
            starts[r["step"]] = r
        elif r["event"] == "done" and r.get("duration") is not None:
            start = starts.get(r["step"])
            if w["start"] and w["end"] and (r["time"] < w["start"] or (start and start["time"] > w["end"])):
                continue
            steps.append({"step": r["step"], "task": r.get("task"), "host": r.get("host"), "duration": r["duration"]})
    durations = {s["step"]: s["duration"] for s in steps}
    out = {"seconds": w["seconds"], "start": w["start"], "end": w["end"], "start_what": w["start_what"], "end_what": w["end_what"],
           "steps": steps, "rsync": durations.get("C4"), "reboot": durations.get("D5")}
    if w["seconds"] is not None:
        out["overhead"] = round(w["seconds"] - (out["rsync"] or 0) - (out["reboot"] or 0), 3)
        out["steps_sum"] = round(sum(durations.values()), 3)
        out["between"] = round(w["seconds"] - out["steps_sum"], 3)
    return out


def c4_parts(records: list[dict]) -> dict:
    """C4's dry run (start -> accepted note) and real run (accepted note -> done), from its records."""
    start = next((r for r in records if r.get("step") == "C4" and r["event"] == "start"), None)
    note = next((r for r in records if r.get("step") == "C4" and r["event"] == "note" and "rsync_accepted" in r), None)
    done = next((r for r in records if r.get("step") == "C4" and r["event"] == "done"), None)
    if not (start and note and done):
        return {}
    return {"dry": (_time(note) - _time(start)).total_seconds(), "real": (_time(done) - _time(note)).total_seconds(),
            "step": done["duration"]}


def designed_reconnects(records: list[dict], sshd_config: str) -> dict[str, tuple[int, str]]:
    """Logins beyond the first that a fab run makes on purpose, per host, from its journal records.

    - each sshd_config change (P1/C1 open, P4/C5 close) restarts sshd and proves a FRESH login works;
    - C6 renames root's authorized_keys on old and proves a FRESH operator login still works
      (else it renames the file back): the operator must not be locked out of old mid-swap;
    - C10 moves a host's address: the connection is lost and made again at the after address;
    - D5 reboots old: the connection is made again after the boot.
    """
    extra: dict[str, list] = {}
    for r in records:
        host, why = r.get("host"), None
        if r["event"] == "change" and r.get("path") == sshd_config:
            why = f"{r.get('step')} sshd restart: fresh-login proof"
        elif r["event"] == "change" and r.get("step") == "C6" and str(r.get("detail", "")).startswith("mv "):
            why = "C6 authorized_keys renamed: fresh-login proof"
        elif r["event"] == "note" and r.get("step") == "C10" and r.get("swapped") is True:
            why = "C10 reconnect at the after address"
        elif r["event"] == "done" and r.get("step") == "D5":
            host, why = host or "old", "D5 reconnect after the reboot"
        if host and why:
            extra.setdefault(host, []).append(why)
    return {h: (len(w), "; ".join(w)) for h, w in extra.items()}


def connection_runs(runs: list[dict], sshd_config: str) -> list[dict]:
    out = []
    for run in runs:
        if "logins" not in run:
            continue
        designed = designed_reconnects(run["records"], sshd_config)
        per_host = {h: n for h, n in run["logins"].items() if n}
        out.append({"run": run["label"], "per_host": per_host,
                    "expected": {h: 1 + designed.get(h, (0, ""))[0] for h in per_host},
                    "why": {h: designed[h][1] for h in per_host if h in designed}})
    return out


# ---- the measures ---------------------------------------------------------------

def verify_edits(settings) -> None:
    """The Z1/D4/N2/P1 results are in place (after the fab run and after the playbook alike)."""
    ttl, qmail, bouncer, root_login = settings.ttl, settings.qmail, settings.bouncer, settings.root_login
    problems = []
    for name in ttl.zone_files:
        path = posixpath.join(ttl.zone_dir, name)
        if f"$TTL {ttl.lowered}" not in api.exec("new", f"cat {shlex.quote(path)}").stdout:
            problems.append(f"new:{path} lacks $TTL {ttl.lowered}")
    for name in qmail.files:
        path = posixpath.join(qmail.control_dir, name)
        if api.exec("old", f"cat {shlex.quote(path)}").stdout.split() != list(qmail.old):
            problems.append(f"old:{path} is not {qmail.old}")
    if api.exec("new", f"cat {shlex.quote(bouncer.path)}").stdout.splitlines() != list(bouncer.lines):
        problems.append(f"new:{bouncer.path} is not bouncer.lines")
    sshd = api.exec("new", f"cat {shlex.quote(root_login.sshd_config)}").stdout.splitlines()
    if f"PermitRootLogin {root_login.permit_root_login}" not in [line.strip() for line in sshd]:
        problems.append("new: PermitRootLogin not set")
    if problems:
        raise BenchError("the edits did not all happen: " + "; ".join(problems))


def zone_names(settings) -> dict[str, str]:
    from fabfile.ops import zones

    ttl, bind = settings.ttl, settings.bind
    named_conf = api.exec("new", f"cat {shlex.quote(posixpath.join(bind.etc_dir, bind.named_conf))}").stdout
    out = {}
    for name in ttl.zone_files:
        path = posixpath.join(ttl.zone_dir, name)
        out[name] = zones.zone_name(api.exec("new", f"cat {shlex.quote(path)}").stdout, path, named_conf)
    return out


def measure_edits(b: Bench, ansible_version: str, log=print) -> dict:
    from . import ansible

    b.reset_lab()
    fab_changed = b.fab(*EDIT_TASKS, label="edits-changed")
    verify_edits(b.settings)
    fab_unchanged = b.fab(*EDIT_TASKS, label="edits-unchanged")
    if any(r["event"] == "change" for r in fab_unchanged["records"]):
        raise BenchError("the second fab run of the edits changed something: not an unchanged run")
    b.reset_lab()
    addresses = {h: api.address(h) for h in ("old", "new")}
    runner = ansible.Ansible(b.workdir / "ansible", b.settings, zone_names(b.settings), addresses, log=log)
    try:
        before = b.logins()
        a_changed = runner.run("changed")
        mid = b.logins()
        verify_edits(b.settings)
        a_unchanged = runner.run("unchanged")
        after = b.logins()
    finally:
        runner.close()
    if any("changed=0" not in line for line in a_unchanged["recap"]):
        raise BenchError("the second ansible-playbook run changed something: not an unchanged run")
    return {"changed": {"fab": fab_changed["wall"], "ansible": a_changed["wall"]},
            "unchanged": {"fab": fab_unchanged["wall"], "ansible": a_unchanged["wall"]},
            "tasks": list(EDIT_TASKS), "ansible_version": ansible_version,
            "ansible_logins": {"changed": {h: mid[h] - before[h] for h in before if mid[h] - before[h]},
                               "unchanged": {h: after[h] - mid[h] for h in mid if after[h] - mid[h]}}}


def measure_scale(b: Bench, points: tuple[int, ...], log=print) -> dict:
    """P2's dry run at each file count (files added to old's /home between points): wall + peak RSS of fab."""
    users = lab_users()
    b.fab("prep.allow-root-login", label="scale-open-root-login", count_logins=False)
    log_path = b.settings.rsync.log
    created, out = 0, []
    for index, count in enumerate(points):
        add = count - created
        files = dataset.plan(add, add * 256, users, seed=600 + index, subdir=f"bench-scale{index}")
        seconds = make_files(dataset.job("/home", create=files))
        created = count
        log(f"bench: scale: {created:,} files on old ({seconds:.1f} s to make)")
        run = b.fab("prep.rsync-dryrun", "--yes", label=f"scale-dryrun-{count}", count_logins=False)
        lines = int(api.exec("old", f"wc -l < {shlex.quote(log_path)}").stdout.strip() or 0)
        size = int(api.exec("old", f"stat -c %s {shlex.quote(log_path)}").stdout.strip() or 0)
        out.append({"files": count, "wall": run["wall"], "maxrss_kb": run["maxrss_kb"], "log_lines": lines, "log_bytes": size})
    return {"points": out}


def plain_rsync(settings, dry: bool) -> str:
    """The runbook's command with the same options as the tool's, into PLAIN_DEST on new; output to a file."""
    from fabfile.ops import transfer

    argv = transfer.rsync_argv(settings, dry=dry)
    target = argv[-1].rsplit(":", 1)[0]
    argv[-1] = f"{target}:{PLAIN_DEST}"
    return f"cd {shlex.quote(settings.rsync.workdir)} && {shlex.join(argv)} > /tmp/bench-plain.log 2>&1"


def measure_window(b: Bench, count: int, total: int, log=print) -> tuple[dict, dict]:
    """Measures 1 (window) and 2 (rsync vs plain rsync); returns (window, rsync)."""
    b.reset_lab()
    users = lab_users()
    files = dataset.plan(count, total, users)
    seconds = make_files(dataset.job("/home", create=files))
    log(f"bench: {count:,} files, {total / 2**20:.0f} MiB in old's /home for {len(users)} users ({seconds:.1f} s to make)")
    b.fab("prep.allow-root-login", label="P1")
    b.fab("prep.rsync-dryrun", "--yes", label="P2")
    p3 = b.fab("prep.rsync", label="P3")
    p3_step = next(r["duration"] for r in p3["records"] if r.get("step") == "P3" and r["event"] == "done")
    plain_full, _ = exec_timed("old", plain_rsync(b.settings, dry=False))
    changes = dataset.change_plan(files)
    make_files(dataset.changes_job("/home", changes))
    log(f"bench: changed {len(changes.modify)}, added {len(changes.add)}, deleted {len(changes.delete)} files on old")
    plain_dry, _ = exec_timed("old", plain_rsync(b.settings, dry=True))
    plain_real, _ = exec_timed("old", plain_rsync(b.settings, dry=False))
    b.fab("prep.restore-root-login", label="P4")
    runs = [b.fab(*args, label=" ".join(args), check=args[0] != "phase4.check") for args in WINDOW_RUNS]
    records = [r for run in runs for r in run["records"]]
    window = window_from(records)
    window["data"] = dataset.summary(files)
    window["changes"] = {"modified": len(changes.modify), "added": len(changes.add), "deleted": len(changes.delete)}
    window["fab_runs"] = [{"run": run["label"], "wall": run["wall"], "rc": run["rc"]} for run in runs]
    window["phase4_rc"] = runs[-1]["rc"]
    c4 = c4_parts(records)
    rsync = {"p3": {"tool": p3_step, "plain": round(plain_full, 3)},
             "c4": {"tool": c4.get("step"), "plain": round(plain_dry + plain_real, 3)},
             "c4_real": {"tool": c4.get("real"), "plain": round(plain_real, 3)},
             "c4_vs_one": {"tool": c4.get("step"), "plain": round(plain_real, 3)},
             "c4_dry": c4.get("dry"), "plain_dry": round(plain_dry, 3)}
    return window, rsync
