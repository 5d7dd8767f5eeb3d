"""after: what A1 may remove, which accounts A3 removes, and the sudoers result."""

import pytest

from fabfile.edit import EditError
from fabfile.ops import cleanup

PASSWD = """\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
yasuda:x:1001:1001:Yasuda:/home/yasuda:/bin/bash
chikuwa1:x:1500:1500:build account 1:/home/chikuwa1:/bin/bash
chikuwa2:x:1501:1501:build account 2:/home/chikuwa2:/bin/bash
chikuwa-old:x:1502:1502::/home/chikuwa-old:/bin/sh
"""

SUDOERS = """\
Defaults\tenv_reset
root\tALL=(ALL:ALL) ALL
%sudo\tALL=(ALL:ALL) ALL
User_Alias BUILDERS = chikuwa1, yasuda
# build accounts for the swap (A3 removes them)
chikuwa1\tALL=(ALL:ALL) ALL
chikuwa2\tALL=(ALL:ALL) NOPASSWD: ALL
"""


@pytest.mark.parametrize("path", ["/root/old-etc", "/home/itpass/from-old/", "/var/backups/tako-etc"])
def test_removable_paths(path):
    assert cleanup.check_removable(path) == path.rstrip("/")


@pytest.mark.parametrize("path", ["", "/", "/etc", "/home/", "relative/dir", "/root/../etc", "/root//x", "/root/./x"])
def test_refused_paths(path):
    with pytest.raises(EditError):
        cleanup.check_removable(path)


def test_build_accounts_by_pattern():
    assert cleanup.build_accounts(PASSWD, "chikuwa*", 1000, 29999) == [("chikuwa1", 1500), ("chikuwa2", 1501), ("chikuwa-old", 1502)]
    assert cleanup.build_accounts(PASSWD, "chikuwa?", 1000, 29999) == [("chikuwa1", 1500), ("chikuwa2", 1501)]
    assert cleanup.build_accounts(PASSWD, "nobody-here*", 1000, 29999) == []


@pytest.mark.parametrize("pattern", ["*", "?*", "", "  "])
def test_a_pattern_matching_everyone_is_refused(pattern):
    with pytest.raises(EditError, match="build_accounts.pattern"):
        cleanup.build_accounts(PASSWD, pattern, 1000, 29999)


def test_a_pattern_reaching_system_accounts_is_refused():
    with pytest.raises(EditError, match=r"daemon \(uid 1\)"):
        cleanup.build_accounts(PASSWD, "d*", 1000, 29999)


def test_sudoers_without_the_build_accounts():
    from fabfile.edit import sudoers

    tree = {"/etc/sudoers": SUDOERS}
    out = sudoers.remove_users_tree(tree, {}, ["chikuwa1", "chikuwa2"])["/etc/sudoers"]
    assert "chikuwa" not in out.replace("# build accounts", "")
    assert "User_Alias BUILDERS = yasuda" in out
    assert "root\tALL=(ALL:ALL) ALL" in out and "%sudo" in out
    assert sudoers.remove_users_tree({"/etc/sudoers": out}, {}, ["chikuwa1", "chikuwa2"]) == {}
