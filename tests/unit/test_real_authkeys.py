"""Merged authorized_keys options judged by a real sshd: what a login may do, not what the text says.

Debian 12's sshd (unpacked, tests/debfiles.py) runs on 127.0.0.1:2222 inside a
private network and mount namespace (its own loopback; /etc/ssh and
/etc/passwd bound to scratch copies with a test user), and this machine's
ssh client logs in with test keys from 127.0.0.1 or 127.0.0.2. Each probe is
one real login: did it get in, did the forced command run, was a PTY
refused, was a -W forward refused, did ~/.ssh/rc run. Debian 13's sshd 10.0
is not run as a daemon here: it re-executes sshd-session, which needs
trixie's libc on the loader path of an exec we do not control; its
auth-options.c parsing is the same as 9.2's (checked in the source).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from fabfile.edit import EditError
from fabfile.edit.authkeys import merge_options, restrict_key
from tests import debfiles

PORT = 2222
USER, UID = "aktest", 65501
COMMAND = 'command="echo forced-$SSH_ORIGINAL_COMMAND"'
REQUIRED = f'{COMMAND},no-pty,from="127.0.0.1",no-port-forwarding,no-X11-forwarding,no-agent-forwarding'
SSHD_CONFIG = f"""Port {PORT}
ListenAddress 127.0.0.1
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd-test.pid
AuthorizedKeysFile /etc/ssh/keys/%u
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
LogLevel VERBOSE
ExposeAuthInfo yes
"""


class Server:
    """sshd in its own namespaces, and logins to it (all processes ended by PID in close())."""

    def __init__(self, tree: Path):
        self.tmp = Path(tempfile.mkdtemp(prefix="authkeys-real-"))
        self.tmp.chmod(0o755)  # the test user's home is inside
        self.etc, self.home = self.tmp / "ssh", self.tmp / "home"
        (self.etc / "keys").mkdir(parents=True)
        (self.home / ".ssh").mkdir(parents=True)
        (self.etc / "sshd_config").write_text(SSHD_CONFIG)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.etc / "ssh_host_ed25519_key")], check=True)
        (self.home / ".ssh/rc").write_text('cat "$SSH_USER_AUTH" >> "$HOME/rc.log"\n')  # which key logged in
        os.chown(self.home, UID, 65534)
        passwd = self.tmp / "passwd"
        passwd.write_text(Path("/etc/passwd").read_text() + "sshd:x:65500:65534::/run/sshd:/usr/sbin/nologin\n"
                          f"{USER}:x:{UID}:65534::{self.home}:/bin/sh\n")
        self.keys = {}
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--net", "--propagation", "private", "sh", "-c",
             'mount --bind "$1" /etc/ssh && mount --bind "$2" /etc/passwd && mount -t tmpfs tmpfs /run && mkdir -p /run/sshd '
             '&& ip link set lo up && echo ready && exec sleep 3600', "sh", str(self.etc), str(passwd)],
            stdout=subprocess.PIPE, text=True)
        assert self.holder.stdout.readline().strip() == "ready"
        sshd = [*debfiles.program(tree, "usr/sbin/sshd"), "-D", "-e", "-f", "/etc/ssh/sshd_config"]
        self.sshd = subprocess.Popen(self._enter(*sshd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_listening()

    def _enter(self, *argv: str) -> list[str]:
        return ["nsenter", "-t", str(self.holder.pid), "-m", "-n", *argv]

    def _wait_listening(self) -> None:
        for _ in range(100):
            probe = subprocess.run(self._enter("ssh-keyscan", "-p", str(PORT), "127.0.0.1"), capture_output=True, text=True)
            if "ssh-ed25519" in probe.stdout:
                return
            assert self.sshd.poll() is None, "sshd exited"
            time.sleep(0.1)
        raise AssertionError("sshd did not come up")

    def key(self, name: str) -> tuple[Path, str]:
        """(private key path, public key line) of a test key, made once."""
        if name not in self.keys:
            path = self.tmp / f"id_{name}"
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True)
            self.keys[name] = (path, (path.parent / (path.name + ".pub")).read_text().strip())
        return self.keys[name]

    def authorize(self, text: str) -> None:
        (self.etc / "keys" / USER).write_text(text)

    def ssh(self, name: str, *args: str, source: str = "127.0.0.1", stdin: str = "") -> subprocess.CompletedProcess:
        path, _ = self.key(name)
        options = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
                   "-o", "UserKnownHostsFile=/dev/null", "-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]
        argv = self._enter("ssh", *options, "-i", str(path), "-b", source, "-p", str(PORT), *args)
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)

    def rc_runs(self, name: str) -> int:
        """How often ~/.ssh/rc ran for logins with key `name` (ExposeAuthInfo names the key)."""
        log, blob = self.home / "rc.log", self.key(name)[1].split()[1]
        return log.read_text().count(blob) if log.exists() else 0

    def close(self) -> None:
        for process in (self.sshd, self.holder):
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    for tool in ("unshare", "nsenter", "ip", "ssh", "ssh-keyscan"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is needed to run a real sshd")
    running = Server(debfiles.unpacked("openssh-server", "libwrap0"))
    yield running
    running.close()


def probe(server: Server, *names: str) -> dict:
    """What sshd lets each key do, {name: {what: allowed}}: every entry one real login (six at a time)."""
    attempts = {"login": ([f"{USER}@127.0.0.1", "echo probe"], "127.0.0.1"),
                "pty": (["-tt", f"{USER}@127.0.0.1", "echo probe"], "127.0.0.1"),
                "forward": (["-W", f"127.0.0.1:{PORT}", f"{USER}@127.0.0.1"], "127.0.0.1"),
                "from2": ([f"{USER}@127.0.0.1", "echo probe"], "127.0.0.2")}
    before = {name: server.rc_runs(name) for name in names}
    jobs = [(name, what) for name in names for what in attempts]
    with ThreadPoolExecutor(max_workers=6) as pool:
        runs = dict(zip(jobs, pool.map(lambda job: server.ssh(job[0], *attempts[job[1]][0], source=attempts[job[1]][1]), jobs)))
    results = {}
    for name in names:
        login, pty = runs[name, "login"], runs[name, "pty"]
        results[name] = {"login": login.returncode == 0, "forced": login.stdout.strip() == "forced-echo probe",
                         "rc": server.rc_runs(name) > before[name],
                         "pty": pty.returncode == 0 and "PTY allocation request failed" not in pty.stderr,
                         "forward": "SSH-2.0-" in runs[name, "forward"].stdout, "from2": runs[name, "from2"].returncode == 0}
    return results if len(names) > 1 else results[names[0]]


def line(server: Server, name: str, options: str | None) -> str:
    public = server.key(name)[1]
    return f"{options} {public}" if options else public


def test_merged_line_keeps_the_existing_restrictions_and_adds_the_required(server):
    existing = 'no-user-rc,expiry-time="20991231",from="127.0.0.1"'
    text = restrict_key(f"# keys\n{line(server, 'k1', existing)}\n", server.key("k1")[1], REQUIRED)
    server.authorize(text)
    assert probe(server, "k1") == {"login": True, "forced": True, "rc": False, "pty": False, "forward": False, "from2": False}


def test_unrestricted_line_then_merged_as_sshd_sees_it(server):
    public = server.key("k2")[1]
    server.authorize(public + "\n")
    assert probe(server, "k2") == {"login": True, "forced": False, "rc": True, "pty": True, "forward": True, "from2": True}
    server.authorize(restrict_key(public + "\n", public, REQUIRED))
    assert probe(server, "k2") == {"login": True, "forced": True, "rc": True, "pty": False, "forward": False, "from2": False}


def test_expired_key_stays_expired(server):
    """The old editor replaced the options: an expired key came back to life. The merge keeps expiry-time."""
    public = server.key("k3")[1]
    server.authorize(f'expiry-time="20000101" {public}\n')
    assert not probe(server, "k3")["login"]
    server.authorize(f"{REQUIRED} {public}\n")  # what replacing the options did
    assert probe(server, "k3")["login"]
    server.authorize(restrict_key(f'expiry-time="20000101" {public}\n', public, REQUIRED))
    assert not probe(server, "k3")["login"]


FLAGS = ["restrict", "no-pty", "pty", "no-port-forwarding", "port-forwarding", "no-user-rc", "user-rc",
         "no-agent-forwarding", "no-X11-forwarding"]
VALUES = {"from": ['from="127.0.0.1"', 'from="127.0.0.1,127.0.0.2"', 'from="!127.0.0.2,127.0.0.*"'],
          "expiry-time": ['expiry-time="20991231"'], "environment": ['environment="LANG=C"'],
          "permitopen": [f'permitopen="127.0.0.1:{PORT}"'], "command": [COMMAND]}


@st.composite
def option_sets(draw):
    flags = draw(st.lists(st.sampled_from(FLAGS), max_size=3))
    names = draw(st.lists(st.sampled_from(sorted(VALUES)), unique=True, max_size=2))
    return ",".join(draw(st.permutations(flags + [draw(st.sampled_from(VALUES[n])) for n in names])))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(existing=option_sets(), required=option_sets().filter(bool))
def test_property_merged_line_allows_exactly_what_both_allow(server, existing, required):
    """sshd is the judge: the merged line may do a thing iff the existing line and the required options each may."""
    try:
        merged = merge_options(existing or None, required)
    except EditError:
        return
    server.authorize("\n".join([line(server, "e", existing or None), line(server, "r", required),
                                line(server, "m", merged or None)]) + "\n")
    seen = probe(server, "e", "r", "m")
    mine, theirs, result = seen["e"], seen["r"], seen["m"]
    for what in ("login", "rc", "pty", "forward", "from2"):
        assert result[what] == (mine[what] and theirs[what]), (what, existing, required, merged)
    assert result["forced"] == ("command=" in existing + required), merged
