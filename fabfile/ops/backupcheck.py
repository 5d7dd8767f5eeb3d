"""B1: the backup host's cron scripts, run in their dry-run mode, and the tail of their logs.

The scripts are the backup server's own (`backup_check.scripts`, each with
its `run` command line, which carries the dry-run flag, and its log path
relative to `backup_check.dir`). They run as `backup_check.user` with the
group `backup_check.group`, as the seed's operator did. Running them is a
probe: in dry-run mode they copy nothing, so B1 runs the same in `fab --dry`.
A script ended well when it exited 0, its log was written by this run, and
the log's tail shows none of `backup_check.fail_patterns`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..checks import Check
import shlex



@dataclass
class Outcome:
    check: Check
    log: str
    tail: list[str] = field(default_factory=list)


IN_DIR = 'cd "$1" && shift && exec "$@"'


def run_command(cfg, script: dict, connect_user: str) -> list[str]:
    """The argv that runs one script as the configured user and group, in the configured dir.

    The script's command line (backup_check.scripts[].run) is split into words
    here, as a shell would, and passed as arguments: never run by a shell.
    """
    inner = ["sh", "-c", IN_DIR, "sh", cfg.dir, *shlex.split(script["run"])]
    if connect_user == cfg.user:
        return ["sg", cfg.group, "-c", shlex.join(inner)]
    # as root: setpriv-free and portable: su with a fixed shell, the group by -g, the argv quoted by shlex.join
    return ["su", "-s", "/bin/sh", "-g", cfg.group, cfg.user, "-c", shlex.join(inner)]


def log_path(cfg, script: dict) -> str:
    log = script["log"]
    return log if log.startswith("/") else f"{cfg.dir.rstrip('/')}/{log}"


def judge(name: str, host: str, exit_code: int, stamp_before: str, stamp_after: str, tail: list[str], patterns: list[str], log: str) -> Check:
    """Pure: decide OK/FAIL from the exit code, whether the log moved, and the log's tail."""
    expected = "exit 0, log written, no error in its tail"
    last = tail[-1].strip() if tail else "(empty log)"
    seen = f"exit {exit_code}; {last[:70]}"
    if exit_code != 0:
        return Check(name, host, expected, seen, False, f"the script exited {exit_code}; read {log}")
    if not stamp_after:
        return Check(name, host, expected, seen, False, f"no log at {log}; check backup_check.scripts[].log")
    if stamp_after == stamp_before:
        return Check(name, host, expected, seen, False, f"{log} was not written by this run; is it the script's log?")
    lowered = [p.lower() for p in patterns]
    for line in tail:
        hit = next((p for p in lowered if p in line.lower()), None)
        if hit:
            return Check(name, host, expected, seen, False, f"the log's tail says {line.strip()[:80]!r}")
    return Check(name, host, expected, seen, True)


def dry_run(host, cfg, script: dict) -> Outcome:
    log = log_path(cfg, script)
    stamp = ["stat", "-c", "%y %s", "--", log]
    before = host.probe(stamp).stdout.strip()
    host.say(f"B1: as {cfg.user}:{cfg.group} in {cfg.dir}: {script['run']}")
    result = host.probe(run_command(cfg, script, host.spec.user))
    after = host.probe(stamp).stdout.strip()
    tail = host.probe(["tail", "-n", str(int(cfg.tail_lines)), "--", log]).stdout.splitlines() if after else []
    name = f"B1 backup {script['run'].split()[0].rsplit('/', 1)[-1]}"
    check = judge(name, host.alias, result.exited, before, after, tail, cfg.fail_patterns, log)
    if result.exited != 0:
        first = (result.stderr or result.stdout).strip().splitlines()[:1]
        if first:
            check.reason += f" ({first[0][:80]})"
    return Outcome(check, log, tail)
