"""The sshd_config model against the real sshd: Debian 12's (OpenSSH 9.2) and Debian 13's (10.0).

Both are unpacked from Debian's own packages (tests/debfiles.py) and run in a
private mount namespace with the test's files bound over /etc/ssh; `sshd -T
-C user=,host=,addr=` is the judge of the effective value, `sshd -t` of the
syntax. Debian's stock sshd_config (Include of sshd_config.d/*.conf) is the
starting point; generated files come from the grammar in test_edit_sshd.py.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from fabfile.edit import EditError
from fabfile.edit.sshd import canonical, effective, from_files, plan_effective, resolve
from tests import debfiles
from test_edit_sshd import BOB, MAIN, OTHERS, ROOT, check_line_edits, configurations, touched

TREES = {
    "bookworm-9.2": lambda: debfiles.unpacked("openssh-server", "libwrap0"),
    "trixie-10.0": lambda: debfiles.unpacked_from(
        "trixie", "openssh-server", "libc6", "libssl3t64", "libselinux1", "libpcre2-8-0", "zlib1g", "libzstd1"),
}
FIXTURE_SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module", params=sorted(TREES))
def tree(request):
    return TREES[request.param]()


@pytest.fixture(scope="module")
def host_key(tmp_path_factory):
    key = tmp_path_factory.mktemp("hostkey") / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def stock(tree: Path) -> str:
    """Debian's own sshd_config (the package installs it from here with ucf)."""
    return (tree / "usr/share/openssh/sshd_config").read_text()


class Etc:
    """A scratch /etc/ssh holding {"/etc/ssh/...": text}, judged by the unpacked sshd."""

    def __init__(self, tree: Path, host_key: Path, files: dict):
        self.tree, self.tmp = tree, Path(tempfile.mkdtemp(prefix="sshd-real-"))
        self.dir = self.tmp / "ssh"
        self.dir.mkdir()
        for name in (host_key.name, host_key.name + ".pub"):
            shutil.copy(host_key.parent / name, self.dir / name)
        self.write(files)

    def write(self, files: dict) -> None:
        for path, text in files.items():
            target = self.dir / path.removeprefix("/etc/ssh/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

    def value(self, conn) -> str:
        values = debfiles.sshd_effective(self.tree, self.dir, conn.user, conn.host, conn.addr)
        return canonical("PermitRootLogin", values["permitrootlogin"])

    def syntax_ok(self) -> subprocess.CompletedProcess:
        return debfiles.sshd_test(self.tree, self.dir, "-t", "-f", "/etc/ssh/sshd_config")

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def judge(tree, host_key, files):
    return Etc(tree, host_key, files)


DROPIN = "/etc/ssh/sshd_config.d/50-local.conf"


def test_stock_config_default_and_model_agree(tree, host_key):
    files = {MAIN: stock(tree)}
    etc = judge(tree, host_key, files)
    try:
        assert "Include /etc/ssh/sshd_config.d/*.conf" in files[MAIN]
        for conn in (ROOT, *OTHERS):
            assert etc.value(conn) == effective(from_files(files), "PermitRootLogin", conn) == "prohibit-password"
    finally:
        etc.close()


def test_issue_case_dropin_no_wins_over_an_appended_main_line(tree, host_key):
    """The old single-file edit appended to the main file: sshd still says no (issue 10); the plan edits the drop-in."""
    files = {MAIN: stock(tree), DROPIN: "PermitRootLogin no\n"}
    etc = judge(tree, host_key, files)
    try:
        etc.write({MAIN: files[MAIN] + "PermitRootLogin prohibit-password\n"})
        assert etc.value(ROOT) == "no"
        etc.write(files)
        out = plan_effective(from_files(files), "PermitRootLogin", "prohibit-password", ROOT)
        assert set(out) == {DROPIN}
        etc.write(out)
        assert etc.syntax_ok().returncode == 0
        assert etc.value(ROOT) == "prohibit-password"
        assert resolve(from_files({**files, **out}), "PermitRootLogin", ROOT).directive.where == f"{DROPIN}:1"
    finally:
        etc.close()


@pytest.mark.parametrize("extra, changed", [
    ({}, {MAIN}),  # nothing sets it: a line before the Include
    ({"/etc/ssh/sshd_config.d/10-cloud.conf": "PasswordAuthentication no\n", DROPIN: "PermitRootLogin no\n"}, {DROPIN}),
    ({DROPIN: "Match Address 192.0.2.0/24\n  PermitRootLogin no\n"}, {DROPIN}),
    ({DROPIN: "Match User bob\n  PermitRootLogin no\n"}, {MAIN}),
])
def test_stock_config_plan_opens_root_login_for_old(tree, host_key, extra, changed):
    files = {MAIN: stock(tree), **extra}
    etc = judge(tree, host_key, files)
    try:
        before_bob = etc.value(BOB)
        out = plan_effective(from_files(files), "PermitRootLogin", "yes", ROOT, ["PermitRootLogin forced-commands-only"])
        assert set(out) == changed
        etc.write(out)
        assert etc.syntax_ok().returncode == 0
        assert etc.value(ROOT) == "yes"
        if "Match" in "".join(extra.values()):
            assert etc.value(BOB) == before_bob  # the block for old's address (or bob's own) only
    finally:
        etc.close()


@settings(FIXTURE_SETTINGS, max_examples=40)
@given(files=configurations())
def test_property_model_agrees_with_sshd(tree, host_key, files):
    etc = judge(tree, host_key, files)
    try:
        for conn in (ROOT, *OTHERS):
            try:
                model = effective(from_files(files), "PermitRootLogin", conn)
            except EditError:
                assert etc.syntax_ok().returncode != 0
                return
            assert etc.value(conn) == model, (conn, files)
    finally:
        etc.close()


@settings(FIXTURE_SETTINGS, max_examples=30)
@given(files=configurations(), wanted=st.sampled_from(["prohibit-password", "yes"]))
def test_property_plan_as_sshd_sees_it(tree, host_key, files, wanted):
    """After the plan: sshd -t accepts, sshd -T gives the value for old, the others keep theirs (see plan_effective)."""
    try:
        out = plan_effective(from_files(files), "PermitRootLogin", wanted, ROOT, ["PermitRootLogin forced-commands-only"])
    except EditError:
        return
    etc = judge(tree, host_key, files)
    try:
        before = {conn: etc.value(conn) for conn in OTHERS}
        etc.write(out)
        assert etc.syntax_ok().returncode == 0
        assert etc.value(ROOT) == wanted
        check_line_edits(files, out)
        lines, inserted = touched(files, out)
        for conn in OTHERS:
            source = resolve(from_files(files), "PermitRootLogin", conn)
            key = (source.directive.path, source.directive.number) if hasattr(source, "directive") else None
            if not (key in lines or (key is None and inserted)):
                assert etc.value(conn) == before[conn], conn
        assert plan_effective(from_files({**files, **out}), "PermitRootLogin", wanted, ROOT,
                              ["PermitRootLogin forced-commands-only"]) == {}
    finally:
        etc.close()
