"""Showing edits: unified diffs, and names only for secret files."""

import pytest
from hypothesis import given, settings, strategies as st

from fabfile.edit.diff import colon_kind, is_secret, secret_changes, show_change, unified

HASH_A = "$6$aaaa$HASHONE"
HASH_B = "$6$bbbb$HASHTWO"


def test_unified_headers_and_hunk():
    out = unified("/etc/hosts", "a\nb\n", "a\nc\n")
    assert out.startswith("--- /etc/hosts (before)\n+++ /etc/hosts (after)\n")
    assert "-b\n+c\n" in out


def test_unified_equal_is_empty():
    assert unified("/x", "a\n", "a\n") == ""


def test_unified_marks_missing_final_newline():
    assert "\\ No newline at end of file\n" in unified("/x", "a", "a\n")


def test_secret_changes_added_removed_changed():
    before = f"alice:{HASH_A}:1:0:99999:7:::\nbob:{HASH_A}:1:0:99999:7:::\ncarol:{HASH_A}:1:0:99999:7:::\n"
    after = f"alice:{HASH_A}:1:0:99999:7:::\ncarol:{HASH_B}:1:0:99999:7:::\ndave:{HASH_B}:1:0:99999:7:::\n"
    changes = secret_changes("shadow", before, after)
    assert changes == ["+ dave", "- bob", "~ carol (password changed)"]
    assert not any("$6$" in line for line in changes)


def test_secret_changes_group_members_by_field_name():
    assert secret_changes("group", "audio:x:29:a\n", "audio:x:29:a,b\n") == ["~ audio (members changed)"]


def test_secret_changes_accepts_a_path():
    assert secret_changes("/etc/shadow~", "a:x:1::::::\n", "") == ["- a"]


def test_secret_changes_non_colon_secret_file_shows_nothing_of_content():
    assert secret_changes("/usr/local/qpopper/pop.auth", "x", "y") == ["~ pop.auth (content changed, not shown)"]
    assert secret_changes("/usr/local/qpopper/pop.auth", "x", "x") == []


def test_secret_changes_unparsed_line_not_shown():
    changes = secret_changes("shadow", "", f"{HASH_A}\n")
    assert changes == ["+ (unparsed line 1)"]


def test_secret_changes_layout_only():
    assert secret_changes("shadow", "a:x:1::::::\n", "a:x:1::::::\n\n") == ["~ (layout changed: blank lines or line endings)"]


@pytest.mark.parametrize(
    "path",
    ["/etc/shadow", "/etc/gshadow", "/etc/shadow~", "/etc/shadow-", "/usr/local/qpopper/pop.auth",
     "/root/.ssh/id_ed25519", "/root/.ssh/id_rsa", "/etc/ssh/ssh_host_ed25519_key", "/etc/ssl/private/site.key"],
)
def test_is_secret_true(path):
    assert is_secret(path)


@pytest.mark.parametrize(
    "path",
    ["/root/.ssh/authorized_keys", "/root/.ssh/authorized_keys.bk", "/root/.ssh/id_ed25519.pub",
     "/etc/ssh/ssh_host_ed25519_key.pub", "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/ssh/sshd_config"],
)
def test_is_secret_false(path):
    assert not is_secret(path)


def test_colon_kind():
    assert colon_kind("gshadow") == "gshadow" and colon_kind("/etc/group") == "group" and colon_kind("/etc/hosts") is None


def test_show_change_secret_vs_plain():
    assert HASH_B not in show_change("/etc/shadow", f"a:{HASH_A}:1::::::\n", f"a:{HASH_B}:1::::::\n")
    assert "+b" in show_change("/etc/hosts", "a\n", "b\n")


_name = st.sampled_from(["alice", "bob", "carol", "dave"])
_hash = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ$./", min_size=8, max_size=20)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_name, _hash, max_size=4), st.dictionaries(_name, _hash, max_size=4))
def test_property_secret_changes_never_show_hashes(before, after):
    def render(entries):
        return "".join(f"{name}:{secret}:19000:0:99999:7:::\n" for name, secret in entries.items())

    changes = "\n".join(secret_changes("shadow", render(before), render(after)))
    for secret in list(before.values()) + list(after.values()):
        assert secret not in changes
