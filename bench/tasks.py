"""`inv bench`: the benchmarks of issues 6 and 14 on the lab; one table, and bench/results/<timestamp>.json.

The task holds the lab lock (/run/lock/serverswap-lab.lock, as `flock` does)
for the whole run, resets the lab before each measure that needs a fresh
lab, and resets it once more at the end, so the lab is left seeded.
"""

from __future__ import annotations

import fcntl
import os
import platform
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from invoke import task

LOCK = "/run/lock/serverswap-lab.lock"
RESULTS = Path(__file__).resolve().parent / "results"
MEASURES = ("edits", "scale", "window")
SIZES = {  # (window files, window bytes, scale points)
    "full": (20_000, 1 << 30, (20_000, 200_000)),
    "quick": (2_000, 50 << 20, (2_000, 20_000)),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@task(help={
    "quick": "small version: 2,000 files / 50 MB; scale at 2,000 and 20,000 files (under 2 minutes)",
    "only": f"comma list of measures to run ({', '.join(MEASURES)}; default all)",
    "files": "window data set: number of files (default 20,000; --quick 2,000)",
    "megabytes": "window data set: total size in MiB (default 1024; --quick 50)",
    "no_lock": "do not take the lab lock (the caller holds it, e.g. `flock LOCK inv bench --no-lock`)",
    "keep": "leave the lab as the last measure left it (no final reset)",
    "workdir": "where fab logs, journals and the Ansible files go (default /var/tmp/serverswap-bench/<time>)",
})
def bench(c, quick=False, only="", files=0, megabytes=0, no_lock=False, keep=False, workdir=""):
    """Benchmarks on the lab: window with the watcher, overhead, D5, rsync vs plain, edits vs Ansible, SSH logins, scale."""
    from . import measures, report
    from .labrun import Bench, versions

    wanted = [m.strip() for m in only.split(",") if m.strip()] or list(MEASURES)
    unknown = set(wanted) - set(MEASURES)
    if unknown:
        sys.exit(f"bench: unknown measure(s) {', '.join(sorted(unknown))}; choose from {', '.join(MEASURES)}")
    count, total, points = SIZES["quick" if quick else "full"]
    count, total = files or count, (megabytes << 20) if megabytes else total
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    work = Path(workdir or f"/var/tmp/serverswap-bench/{report.result_name(started)[:-5]}")
    lock = None
    if not no_lock:
        lock = open(LOCK, "a")
        log(f"bench: waiting for the lab lock {LOCK}")
        waited = time.monotonic()
        fcntl.flock(lock, fcntl.LOCK_EX)
        log(f"bench: got the lab lock after {time.monotonic() - waited:.0f} s")
    t0 = time.monotonic()
    load_start = os.getloadavg()
    try:
        from lab import api

        api.up()
        b = Bench(work, log=log)
        result = {"started": started, "quick": quick, "workdir": str(work),
                  "params": {"files": count, "bytes": total, "scale_points": list(points), "measures": wanted},
                  "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "versions": {},
                              "load": {"start": [round(x, 2) for x in load_start]}},
                  "measures": {}}
        ansible_version = None
        m = result["measures"]
        for name in wanted:
            log(f"bench: == {name}")
            try:
                if name == "edits":
                    from . import ansible

                    ansible_version = ansible.ensure_venv(log)
                    m["edits"] = measures.measure_edits(b, ansible_version, log)
                elif name == "scale":
                    if "edits" not in wanted:
                        b.reset_lab()
                    m["scale"] = measures.measure_scale(b, points, log)
                elif name == "window":
                    m["window"], m["rsync"] = measures.measure_window(b, count, total, log)
            except Exception as exc:  # noqa: BLE001 - one broken measure must not lose the others
                traceback.print_exc()
                m[name] = {"error": str(exc).splitlines()[0]}
        m["connections"] = {"runs": measures.connection_runs(b.runs, b.settings.root_login.sshd_config)}
        if "edits" in m and "ansible_logins" in m["edits"]:
            m["connections"]["ansible"] = m["edits"]["ansible_logins"]
        result["machine"]["versions"] = versions(ansible_version)
        result["machine"]["load"]["end"] = [round(x, 2) for x in os.getloadavg()]
        result["fab_runs"] = [{k: v for k, v in run.items() if k != "records"} for run in b.runs]
        if not keep:
            log("bench: final reset (the lab is left seeded)")
            api.reset()
    finally:
        if lock is not None:
            lock.close()
    result["seconds"] = round(time.monotonic() - t0, 1)
    print(report.table(result))
    path = report.write(result, RESULTS)
    print(f"\nbench: {result['seconds']:.0f} s; JSON: {path}; logs: {work}")
