"""Running `fab` against the lab for the bench: a private hosts file and journal, wall time,
peak memory of the `fab` process, and SSH logins counted from the lab hosts' own sshd logs.

The bench never writes the lab's shared journal (lab/state/journal.jsonl):
it runs the tasks with a copy of lab/hosts.toml whose journal and report
directory live in the bench's work directory, so earlier runs by anybody
cannot make a step "done, skipped" or a host "swapped".
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from lab import api
from lab import config as lab_config

REPO = Path(__file__).resolve().parent.parent
SSHD_LOG = "/var/log/sshd-bench.log"


class BenchError(RuntimeError):
    pass


def hosts_text(lab_text: str, lab_dir: Path, workdir: Path) -> str:
    """lab/hosts.toml with journal, report_dir and known_hosts in `workdir`, the key absolute (pure)."""
    def fix(match):
        key, eq, value = match.group(1), match.group(2), match.group(3)
        if key == "journal":
            value = str(workdir / "journal.jsonl")
        elif key == "report_dir":
            value = str(workdir)
        elif key == "known_hosts":   # C10 rewrites it: a private copy (Bench.fresh_known_hosts), never the lab's
            value = str(workdir / "known_hosts")
        elif value and not value.startswith("/"):
            value = str((lab_dir / value).resolve())
        return f'{key}{eq}"{value}"'
    return re.sub(r'^(journal|known_hosts|report_dir|key)(\s*=\s*)"([^"]*)"', fix, lab_text, flags=re.M)


class Bench:
    """One bench run's work directory, hosts file and `fab` runner."""

    def __init__(self, workdir: Path, log=print):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.hosts_file = self.workdir / "hosts.toml"
        self.hosts_file.write_text(hosts_text(api.hosts_file().read_text(), lab_config.LAB_DIR, self.workdir))
        self.journal = self.workdir / "journal.jsonl"
        self.log = log
        self.runs: list[dict] = []
        self.operator_ip = str(lab_config.BRIDGE_ADDR.ip)
        from fabfile import settings as settings_mod
        s = settings_mod.load(self.hosts_file)
        if str(s.operator.journal) != str(self.journal):
            raise BenchError(f"bench hosts file {self.hosts_file} does not point the journal at {self.journal}")
        self.settings = s
        self.fresh_known_hosts()
        self.warm_up()

    def fresh_known_hosts(self) -> None:
        """The lab's known_hosts (host keys survive resets) copied to the bench's own, after each reset."""
        shutil.copyfile(lab_config.STATE_DIR / "known_hosts", self.workdir / "known_hosts")

    def reset_lab(self) -> None:
        """api.reset(), a fresh journal and known_hosts, sshd logging to a file on every host."""
        t0 = time.monotonic()
        api.reset()
        self.reset_journal()
        self.fresh_known_hosts()
        self.enable_sshd_logs()
        self.log(f"bench: lab reset in {time.monotonic() - t0:.1f} s")

    # -- journal ---------------------------------------------------------
    def records(self) -> list[dict]:
        from fabfile.journal import read_records
        return list(read_records(self.journal))

    def reset_journal(self) -> None:
        """A fresh lab is a fresh night: the journal of the previous lab state (and its watcher's lines) go aside."""
        from fabfile.watch import watch_path

        n = len(list(self.workdir.glob("journal.[0-9]*.jsonl")))
        if self.journal.exists():
            self.journal.rename(self.workdir / f"journal.{n}.jsonl")
        if watch_path(self.journal).exists():
            watch_path(self.journal).rename(self.workdir / f"journal.{n}.watch.jsonl")

    # -- fab -------------------------------------------------------------
    def env(self, **extra: str) -> dict:
        """The environment of the bench's fab (and ansible-playbook) processes.

        Python's bytecode cache on, as on an operator's machine (pip compiles an installed tool): the
        sessions of this machine set PYTHONDONTWRITEBYTECODE=1, which makes every process compile its
        sources again (~0.15 s a fab start)."""
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update({"SERVERSWAP_HOSTS": str(self.hosts_file), "SERVERSWAP_YES": "1", "PYTHONUNBUFFERED": "1"}, **extra)
        return env

    def warm_up(self) -> None:
        """One `--list` of each program first, so that no measured run pays for writing the bytecode cache."""
        for program in ("fabric", "bench.fabprogram"):
            subprocess.run([sys.executable, "-m", program, "--list"], cwd=REPO, env=self.env(), capture_output=True, check=True)

    def fab(self, *args: str, label: str | None = None, check: bool = True, count_logins: bool = True,
            program: str = "fabric", env: dict | None = None) -> dict:
        """One `fab ARGS` process: wall time, exit code, peak RSS (/usr/bin/time), sshd logins per host.

        Run as `python3 -m fabric ARGS` with the bench's own interpreter (what `fab` runs, without the
        pyenv shim's ~45 ms on this machine; ansible-playbook is run by its path too); `program`
        "bench.fabprogram" is the tool's program with the bench's side-by-side edit task added."""
        label = label or " ".join(args)
        out_path = self.workdir / f"fab-{len(self.runs):02d}-{re.sub(r'[^A-Za-z0-9.]+', '_', label)[:40]}.log"
        before = self.login_lines() if count_logins else {}
        first_record = len(self.records())
        t0 = time.monotonic()
        rss_path = out_path.with_suffix(".maxrss")
        # Peak RSS through /usr/bin/time: a child forked from this (large) Python process would
        # inherit its RSS high-water mark, and os.wait4 / RUSAGE_CHILDREN would report ours.
        with open(out_path, "wb") as out:
            proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss_path), sys.executable, "-m", program, *args], cwd=REPO, env=self.env(**(env or {})),
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        wall = time.monotonic() - t0
        try:
            maxrss = int(rss_path.read_text().split()[-1])
        except (OSError, ValueError, IndexError):
            maxrss = None
        run = {"label": label, "args": list(args), "wall": round(wall, 3), "rc": proc.returncode,
               "maxrss_kb": maxrss, "output": str(out_path)}
        if count_logins:
            after = self.login_lines()
            run["logins"] = {h: len(after[h]) - len(before.get(h, [])) for h in after}
            run["login_lines"] = {h: after[h][len(before.get(h, [])):] for h in after if len(after[h]) > len(before.get(h, []))}
        run["records"] = self.records()[first_record:]
        self.runs.append(run)
        self.log(f"bench: fab {label}: {wall:.2f} s, exit {proc.returncode}, peak RSS {(maxrss or 0) / 1024:.0f} MiB")
        if check and proc.returncode != 0:
            tail = out_path.read_text(errors="replace").strip().splitlines()[-15:]
            raise BenchError(f"fab {label} failed (exit {proc.returncode}); {out_path}:\n  " + "\n  ".join(tail))
        return run

    # -- sshd logs -------------------------------------------------------
    def enable_sshd_logs(self) -> None:
        """sshd -E SSHD_LOG on every lab host (via /etc/default/ssh, so restarts and reboots keep it)."""
        for host in api.HOSTS:
            api.exec(host, "sed -i '/^SSHD_OPTS=/d' /etc/default/ssh && "
                           f"echo 'SSHD_OPTS=\"-E {SSHD_LOG}\"' >> /etc/default/ssh && "
                           f": > {SSHD_LOG} && /etc/init.d/ssh restart >/dev/null")

    def login_lines(self) -> dict[str, list[str]]:
        """Accepted logins from the operator's address so far, per lab host (lines of its sshd log)."""
        pattern = f"Accepted publickey for .* from {re.escape(self.operator_ip)} port"
        out = {}
        for host in api.HOSTS:
            r = api.exec(host, f"grep {shlex.quote(pattern)} {SSHD_LOG} 2>/dev/null || true", check=False)
            out[host] = [line[line.find("Accepted"):].split(" ssh2")[0] for line in r.stdout.splitlines() if line.strip()]
        return out

    def logins(self) -> dict:
        return {h: len(lines) for h, lines in self.login_lines().items()}


def exec_timed(host: str, command: str, *, input: str | None = None, timeout: float = 3600) -> tuple[float, str]:
    """Run COMMAND inside HOST and time it there (date before/after), without nsenter's own start-up."""
    wrapped = f"t0=$(date +%s.%N); ( {command} ); rc=$?; t1=$(date +%s.%N); echo \"BENCH-TIME $t0 $t1 $rc\" >&2; exit $rc"
    r = api.exec(host, wrapped, input=input, check=False, timeout=timeout)
    match = re.search(r"BENCH-TIME (\S+) (\S+) (\d+)", r.stderr)
    if not match or match.group(3) != "0":
        raise BenchError(f"{host}: `{command[:120]}` failed: {(r.stderr or r.stdout).strip()[-400:]}")
    return float(match.group(2)) - float(match.group(1)), r.stdout


def versions(ansible_version: str | None = None) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for name in ("fabric", "invoke", "paramiko"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    try:
        first = api.exec("old", "rsync --version | head -1", check=False).stdout.split()
        out["rsync"] = first[2] if len(first) > 2 else None
    except Exception:  # noqa: BLE001 - a version is nice to have
        out["rsync"] = None
    out["ansible-core"] = ansible_version
    return out
