"""sudoers: remove a build account's rules, Defaults and alias membership."""

import pytest
from hypothesis import given, settings, strategies as st

from fabfile.edit import EditError
from fabfile.edit.sudoers import remove_user

BASE = """# /etc/sudoers
Defaults	env_reset
Defaults:chikuwa1 !requiretty
root	ALL=(ALL:ALL) ALL
%sudo	ALL=(ALL:ALL) ALL
chikuwa1 ALL=(ALL) NOPASSWD: ALL
chikuwa10 ALL=(ALL) ALL
#includedir /etc/sudoers.d
"""


def test_remove_user_spec_and_defaults():
    out = remove_user(BASE, "chikuwa1")
    assert "chikuwa1 ALL" not in out and "Defaults:chikuwa1" not in out
    assert out == BASE.replace("Defaults:chikuwa1 !requiretty\n", "").replace("chikuwa1 ALL=(ALL) NOPASSWD: ALL\n", "")


def test_remove_user_exact_name_only():
    out = remove_user(BASE, "chikuwa1")
    assert "chikuwa10 ALL=(ALL) ALL\n" in out


def test_remove_user_keeps_includedir_and_groups():
    out = remove_user(BASE, "chikuwa1")
    assert "#includedir /etc/sudoers.d\n" in out and "%sudo\tALL" in out


def test_remove_user_not_present_unchanged():
    assert remove_user(BASE, "nobody") == BASE


def test_remove_user_commented_rule_kept():
    text = "# chikuwa1 ALL=(ALL) ALL\n"
    assert remove_user(text, "chikuwa1") == text


def test_remove_user_continuation_lines_dropped_together():
    text = "root ALL=(ALL) ALL\nchikuwa1 ALL = \\\n    NOPASSWD: ALL\nalice ALL=(ALL) ALL\n"
    assert remove_user(text, "chikuwa1") == "root ALL=(ALL) ALL\nalice ALL=(ALL) ALL\n"


def test_remove_user_from_user_list_rule():
    assert remove_user("alice,chikuwa1 ALL=(ALL) ALL\n", "chikuwa1") == "alice ALL=(ALL) ALL\n"


def test_remove_user_from_defaults_list():
    assert remove_user("Defaults:alice,chikuwa1 !requiretty\n", "chikuwa1") == "Defaults:alice !requiretty\n"


def test_sudoers_alias_member_removed():
    text = "User_Alias BUILDERS = chikuwa1, chikuwa2, alice\nBUILDERS ALL=(ALL) ALL\n"
    assert remove_user(text, "chikuwa1") == "User_Alias BUILDERS = chikuwa2, alice\nBUILDERS ALL=(ALL) ALL\n"


def test_sudoers_alias_emptied_is_commented_with_note():
    text = "User_Alias BUILDERS = chikuwa1\nBUILDERS ALL=(ALL) ALL\n"
    out = remove_user(text, "chikuwa1")
    assert out.startswith("# serverswap: chikuwa1 removed; User_Alias left without members")
    assert "# User_Alias BUILDERS = chikuwa1\n" in out
    assert out.endswith("BUILDERS ALL=(ALL) ALL\n")


def test_sudoers_alias_with_several_definitions():
    text = "User_Alias A = chikuwa1 : B = bob, chikuwa1\n"
    assert remove_user(text, "chikuwa1") == "User_Alias B = bob\n"


def test_sudoers_alias_other_kinds_untouched():
    text = "Runas_Alias OP = chikuwa1\nCmnd_Alias X = /bin/ls\n"
    assert remove_user(text, "chikuwa1") == text


def test_remove_user_negated_alias_member_kept():
    text = "User_Alias A = alice, !chikuwa1\n"
    assert remove_user(text, "chikuwa1") == text


@pytest.mark.parametrize("user", ["", "a b", "a,b", "%sudo"])
def test_remove_user_refuses_bad_name(user):
    with pytest.raises(EditError):
        remove_user(BASE, user)


# ---- properties ------------------------------------------------------------

_line = st.sampled_from(
    [
        "root ALL=(ALL) ALL",
        "chikuwa1 ALL=(ALL) NOPASSWD: ALL",
        "Defaults:chikuwa1 !requiretty",
        "Defaults env_reset",
        "User_Alias B = chikuwa1, bob",
        "User_Alias C = chikuwa1",
        "alice,chikuwa1 ALL=(ALL) ALL",
        "# chikuwa1 comment",
        "chikuwa10 ALL=(ALL) ALL",
        "%wheel ALL=(ALL) ALL",
        "",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_line, max_size=12))
def test_property_remove_user_idempotent(lines):
    text = "\n".join(lines) + "\n"
    once = remove_user(text, "chikuwa1")
    assert remove_user(once, "chikuwa1") == once


@settings(max_examples=150, deadline=None)
@given(st.lists(_line, max_size=12))
def test_property_unrelated_lines_kept_in_order(lines):
    text = "\n".join(lines) + "\n"
    out = remove_user(text, "chikuwa1").split("\n")[:-1]
    unrelated = [line for line in lines if "chikuwa1" not in line.replace("chikuwa10", "")]
    kept = [line for line in out if line in unrelated]
    assert kept == unrelated
    assert not any(line.startswith(("chikuwa1 ", "Defaults:chikuwa1")) for line in out)
