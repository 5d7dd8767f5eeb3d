"""The five measures of issue 6, each on its own lab state (see bench/README.md).

Order of a full run: edits (fab, then Ansible, each on a fresh lab), scale
(on the state Ansible left: root login open on new), window + rsync (fresh
lab, generated /home), then a final reset so the lab is left seeded.
"""

from __future__ import annotations

import posixpath
import shlex
import statistics
from datetime import datetime

from lab import api

from . import dataset, window
from .labrun import Bench, BenchError, exec_timed

EDIT_TASKS = ("phase0.lower-ttl", "phase3.qmail-local-only", "phase3.bouncer", "prep.allow-root-login")
EDITS_SIDE_BY_SIDE = "bench-edits"     # bench/fabprogram.py: the same four steps, new's and old's lanes side by side
WINDOW_RUN = ("rehearse", "--no-ttl-wait")   # prep (done: skipped), phase0, phase1-4, then D5, the watcher beside
PLAIN_DEST = "/var/tmp/bench-plain/"
REPLAYS = 3                            # each service operation timed directly this many times (median)


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


# ---- journal arithmetic (pure; the window's is in bench/window.py) ---------------------

window_from = window.window_from


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


def step_durations(records: list[dict]) -> dict[str, float]:
    """{step: duration} of the done records of one run (pure)."""
    return {r["step"]: r["duration"] for r in records if r["event"] == "done" and r.get("duration") is not None}


def tool_actions(records: list[dict], sshd_service: str, bind_service: str) -> dict:
    """What the tool did to the services in a changed edit run, for the playbook to do the same (pure).

    {qmail_daemons: names it sent SIGHUP, sshd_action: restart/reload, bind_fallback: restart/reload
    (what it ran when rndc did not answer), rndc: whether it used rndc reload}."""
    details = [r.get("detail", "") for r in records if r["event"] == "change" and isinstance(r.get("detail"), str)]
    hup = next((d.split(None, 2)[2] for d in details if d.startswith("kill -HUP ")), "qmail-send")
    sshd = next((d.rsplit(" ", 1)[1] for d in details if d.startswith(f"/etc/init.d/{sshd_service} ")), "restart")
    bind = next((d.rsplit(" ", 1)[1] for d in details if d.startswith(f"/etc/init.d/{bind_service} ")), "restart")
    return {"qmail_daemons": hup.split(), "sshd_action": sshd, "bind_fallback": bind, "rndc": "rndc reload" in details}


def fab_edit_runs(b: Bench, args: tuple[str, ...], label: str, program: str = "fabric", unchanged_runs: int = 3) -> dict:
    """On a fresh lab: one changed run of the edits, checked on the hosts, then `unchanged_runs` runs that must change nothing."""
    b.reset_lab()
    changed = b.fab(*args, label=f"{label}-changed", program=program)
    verify_edits(b.settings)
    # SERVERSWAP_FORCE: the lanes runner would skip steps the journal shows done (a resume); the unchanged
    # runs must run every step again and find nothing to change, as the playbook's second run does.
    unchanged = [b.fab(*args, label=f"{label}-unchanged", program=program, env={"SERVERSWAP_FORCE": "1"})
                 for _ in range(unchanged_runs)]
    if any(r["event"] == "change" for run in unchanged for r in run["records"]):
        raise BenchError(f"a second fab run of the edits ({label}) changed something: not an unchanged run")
    if any(r["event"] == "skipped" for run in unchanged for r in run["records"]):
        raise BenchError(f"a second fab run of the edits ({label}) skipped steps: not a run that checks everything")
    return {"changed": changed["wall"], "unchanged": statistics.median(run["wall"] for run in unchanged),
            "unchanged_runs": [run["wall"] for run in unchanged], "steps_changed": step_durations(changed["records"]),
            "steps_unchanged": step_durations(unchanged[0]["records"]), "records": changed["records"]}


def ansible_runs(b: Bench, actions: dict, log=print, unchanged_runs: int = 3) -> dict:
    from . import ansible

    b.reset_lab()
    addresses = {h: api.address(h) for h in ("old", "new")}
    runner = ansible.Ansible(b.workdir / "ansible", b.settings, zone_names(b.settings), addresses, log=log,
                             qmail_daemons=actions["qmail_daemons"], sshd_action=actions["sshd_action"],
                             bind_fallback=actions["bind_fallback"])
    try:
        before = b.logins()
        changed = runner.run("changed")
        mid = b.logins()
        verify_edits(b.settings)
        unchanged = [runner.run("unchanged") for _ in range(unchanged_runs)]
        after = b.logins()
    finally:
        runner.close()
    if any("changed=0" not in line for run in unchanged for line in run["recap"]):
        raise BenchError("a second ansible-playbook run changed something: not an unchanged run")
    return {"changed": changed["wall"], "unchanged": statistics.median(run["wall"] for run in unchanged),
            "unchanged_runs": [run["wall"] for run in unchanged],
            "logins": {"changed": {h: mid[h] - before[h] for h in before if mid[h] - before[h]},
                       "unchanged (all runs)": {h: after[h] - mid[h] for h in mid if after[h] - mid[h]}}}


def measure_edits(b: Bench, ansible_version: str, log=print) -> dict:
    """Z1 (two zones), D4, N2, P1: fab side by side (the verdict), fab one after the other, and the playbook."""
    runs = {"service": fab_edit_runs(b, (EDITS_SIDE_BY_SIDE, "--lanes", "service"), "edits", program="bench.fabprogram"),
            "host": fab_edit_runs(b, (EDITS_SIDE_BY_SIDE, "--lanes", "host"), "edits-by-host", program="bench.fabprogram"),
            "sequential": fab_edit_runs(b, EDIT_TASKS, "edits-seq")}
    actions = tool_actions(runs["service"]["records"], b.settings.root_login.restart, b.settings.bind.service)
    for run in runs.values():
        run.pop("records")
    a = ansible_runs(b, actions, log)
    pairs = {name: {key: {"fab": run[key], "ansible": a[key]} for key in ("changed", "unchanged")} for name, run in runs.items()}
    return {"changed": pairs["service"]["changed"], "unchanged": pairs["service"]["unchanged"], "variants": pairs,
            "fab": runs, "ansible": {k: v for k, v in a.items() if k != "logins"},
            "actions": actions, "tasks": list(EDIT_TASKS), "ansible_version": ansible_version, "ansible_logins": a["logins"]}


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


def prepared_window_lab(b: Bench, count: int, total: int, log=print) -> dict:
    """A fresh lab with the data set on old, P1-P4 done by fab, the 1% change made, plain rsync timed beside; the rsync figures."""
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
    return {"data": dataset.summary(files), "p3": p3_step, "plain_full": round(plain_full, 3), "plain_dry": round(plain_dry, 3),
            "plain_real": round(plain_real, 3),
            "changes": {"modified": len(changes.modify), "added": len(changes.add), "deleted": len(changes.delete)}}


def time_service_ops(ops: list[dict], log=print, repeat: int = REPLAYS) -> tuple[dict[str, float], dict[str, dict]]:
    """Each distinct host + command of `ops` timed inside its host (`repeat` times, median), from the state the tool found.

    ({op key: seconds}, {op key: runs, kind, or the error}). The lab must be in an equivalent state (a fresh lab)."""
    timings, detail = {}, {}
    for key, op in {window.op_key(op): op for op in ops}.items():
        runs = []
        try:
            for _ in range(repeat):
                if op["before"]:
                    api.exec(op["host"], f"{op['before']} >/dev/null 2>&1", check=False)
                seconds, _ = exec_timed(op["host"], f"{op['timed']} >/dev/null 2>&1")
                runs.append(round(seconds, 3))
                if op["after"]:
                    api.exec(op["host"], f"{op['after']} >/dev/null 2>&1", check=False)
        except BenchError as exc:
            detail[key] = {"kind": op["kind"], "host": op["host"], "runs": runs, "error": str(exc).splitlines()[0][:200]}
            continue
        timings[key] = round(statistics.median(runs), 3)
        detail[key] = {"kind": op["kind"], "host": op["host"], "runs": runs, "seconds": timings[key]}
        log(f"bench: direct {op['host']}: {op['kind']}: {', '.join(f'{r:.3f}' for r in runs)} s")
    return timings, detail


def measure_window(b: Bench, count: int, total: int, log=print) -> tuple[dict, dict]:
    """Measures 1 (window, watcher, overhead, D5) and 2 (rsync vs plain rsync); returns (window, rsync)."""
    prep = prepared_window_lab(b, count, total, log)
    run = b.fab(*WINDOW_RUN, label="rehearse", check=False)
    records = run["records"]
    result = window_from(records)
    result.update(data=prep["data"], changes=prep["changes"], rc=run["rc"], wall=run["wall"])
    result["d5"] = window.d5_after(records, result)
    from fabfile.watch import watch_path

    lines = watch_path(b.journal).read_text(encoding="utf-8").splitlines() if watch_path(b.journal).exists() else []
    result["watch"] = window.watch_figures(lines, result.get("start"), open(run["output"], errors="replace").read())
    net = b.settings.network
    ops = window.service_ops(records, result, list(net.restart), float(net.settle_seconds))
    log(f"bench: {len(ops)} service operations in the window; timing them directly on a fresh lab")
    b.reset_lab()   # an equivalent state: the seeded lab, as the night found it
    timings, direct = time_service_ops(ops, log)
    result["service_ops"] = [{k: op[k] for k in ("step", "host", "end", "detail", "kind", "delay")} | {"direct": timings.get(window.op_key(op))}
                             for op in ops]
    result["direct"] = direct
    result["overhead"] = window.overhead(result, round(prep["plain_dry"] + prep["plain_real"], 3), ops, timings)
    if run["rc"] != 0:
        result["error_tail"] = open(run["output"], errors="replace").read().strip().splitlines()[-5:]
    c4 = c4_parts(records)
    rsync = {"p3": {"tool": prep["p3"], "plain": prep["plain_full"]},
             "c4": {"tool": c4.get("step"), "plain": round(prep["plain_dry"] + prep["plain_real"], 3)},
             "c4_real": {"tool": c4.get("real"), "plain": prep["plain_real"]},
             "c4_vs_one": {"tool": c4.get("step"), "plain": prep["plain_real"]},
             "c4_dry": c4.get("dry"), "plain_dry": prep["plain_dry"]}
    return result, rsync
