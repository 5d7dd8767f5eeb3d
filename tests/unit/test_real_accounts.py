"""C3's merge judged by shadow-utils itself, on Debian's own account files.

Debian's base-passwd master files, turned into a shadowed system by the real
pwconv/grpconv in a scratch root; accounts made by the real useradd/groupadd/
usermod (-R ROOT, nothing outside the scratch root changes). The merge must
give byte for byte what useradd gives for the same accounts, NIS lines stay
last, and pwck -r -R / grpck -r -R find nothing new.
"""

import shutil

import accounts_grammar as ag
import pytest
from hypothesis import HealthCheck, given, settings

from fabfile.edit.accounts import Accounts, plan_merge
from tests.debfiles import unpacked

HASH = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7"
NIS = {"passwd": "+@admins::::::\n+::::::\n", "shadow": "+::::::::\n", "group": "+:::\n"}


def _complaints(output: str) -> set[str]:
    return {line for line in output.splitlines() if line.strip() and not line.endswith("no changes")}


@pytest.fixture(scope="module")
def master():
    base = unpacked("base-passwd") / "usr/share/base-passwd"
    if not shutil.which("pwconv") or not shutil.which("pwck"):
        pytest.skip("shadow-utils (passwd package) is not installed here")
    return (base / "passwd.master").read_text(), (base / "group.master").read_text()


def _debian_root(master, nis: bool) -> ag.ScratchRoot:
    """Debian's master files, shadowed by pwconv/grpconv, homes and shells made; NIS lines appended."""
    root = ag.ScratchRoot().write(master[0], "", master[1], "")
    (root.path / "etc/shadow").unlink()
    (root.path / "etc/gshadow").unlink()
    for tool in ("pwconv", "grpconv"):
        assert root.run(tool).returncode == 0
    if nis:
        for name, lines in NIS.items():
            with open(root.path / "etc" / name, "a") as handle:
                handle.write(lines)
    return root


def _useradd(root: ag.ScratchRoot, name: str, uid: int, extra_groups=()):
    assert root.run("groupadd", "-g", str(uid), name).returncode == 0
    argv = ["useradd", "-M", "-N", "-u", str(uid), "-g", str(uid), "-c", name.title(),
            "-d", f"/home/{name}", "-s", "/bin/bash", "-p", HASH, name]
    assert root.run(*argv).returncode == 0
    for group in extra_groups:
        assert root.run("usermod", "-a", "-G", group, name).returncode == 0


@pytest.mark.parametrize("nis", [False, True])
def test_merge_equals_what_useradd_writes(master, nis):
    """old: alice (in audio) and bob; new: the build accounts. The merge gives new's four files exactly as
    groupadd + useradd + usermod -aG would have made them there: NIS lines last, pwck/grpck quiet."""
    with _debian_root(master, False) as old, _debian_root(master, nis) as new, ag.ScratchRoot() as reference:
        for name, uid, groups in (("alice", 1001, ["audio"]), ("bob", 1002, [])):
            _useradd(old, name, uid, groups)
        _useradd(new, "chikuwa1", 1500)
        _useradd(new, "chikuwa2", 1501)
        shutil.copytree(new.path, reference.path, dirs_exist_ok=True)
        for name, uid, groups in (("alice", 1001, ["audio"]), ("bob", 1002, [])):
            _useradd(reference, name, uid, groups)
        before = _complaints(new.write(*new.read()).check())  # (write makes the homes and shells)
        plan = plan_merge(Accounts.parse(*old.read()), Accounts.parse(*new.read()), 1000, 29999)
        assert [u.name for u in plan.users] == ["alice", "bob"] and not plan.conflicts
        merged = plan.apply(Accounts.parse(*new.read()))
        assert list(merged) == list(reference.read())
        assert _complaints(new.write(*merged).check()) == before
        if nis:
            assert all(text.endswith(NIS[kind]) for kind, text in zip(("passwd", "shadow", "group"), merged))


def test_legacy_user_from_a_machine_without_shadow(master):
    """old never ran pwconv (hash in passwd): new gets the hash in shadow, as pwconv would put it."""
    with _debian_root(master, True) as new:
        old_passwd = master[0] + f"alice:{HASH}:1001:1001:Alice:/home/alice:/bin/bash\n"
        old = Accounts.parse(old_passwd, "", master[1] + "alice:x:1001:\n", "")
        before = _complaints(new.write(*new.read()).check())
        plan = plan_merge(old, Accounts.parse(*new.read()), 1000, 29999)
        merged = plan.apply(Accounts.parse(*new.read()))
        assert HASH not in merged[0] and f"alice:{HASH}:" in merged[1]
        assert _complaints(new.write(*merged).check()) == before
        assert HASH not in "\n".join(plan.describe()) + repr(plan)


REAL = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@REAL
@given(ag.machines(), ag.machines(names=("alice", "dave", "chikuwa1")))
def test_property_pwck_grpck_find_nothing_new(old_texts, new_texts):
    """Generated machines (NIS lines, comments, legacy hashes, no final newline): whatever pwck -r and
    grpck -r said about new before, they say no more after the merge."""
    old, new = Accounts.parse(*old_texts), Accounts.parse(*new_texts)
    plan = plan_merge(old, new, 1000, 29999)
    if plan.conflicts:
        return
    with ag.ScratchRoot() as root:
        before = _complaints(root.write(*new_texts).check())
        after = _complaints(root.write(*plan.apply(new)).check())
    assert after <= before, after - before
