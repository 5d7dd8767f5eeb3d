"""sudoers: remove build accounts as sudo reads the grammar; other users' rules never change.

The properties run on trees drawn from sudoers' grammar (tests/unit/sudoers_grammar.py)
and judge by a model of sudo's matching built on the module's parser; test_real_sudoers.py
checks the same with visudo, sudo -l and cvtsudoers from Debian's sudo package.
"""

import pytest
import sudoers_grammar as g
from hypothesis import HealthCheck, given, settings, strategies as st

from fabfile.edit import EditError
from fabfile.edit.sudoers import (
    SudoersSyntaxError,
    missing_inputs,
    parse,
    remove_user,
    remove_users,
    remove_users_tree,
    tokenize,
)

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


def test_sudoers_alias_emptied_goes_with_its_references():
    """An empty alias is a syntax error, and an undefined one would mean the user named "builders"."""
    text = "User_Alias BUILDERS = chikuwa1\nBUILDERS ALL=(ALL) ALL\ncarol, !BUILDERS ALL = /bin/ls\n"
    assert remove_user(text, "chikuwa1") == "carol ALL = /bin/ls\n"


def test_sudoers_alias_with_several_definitions():
    text = "User_Alias A = chikuwa1 : B = bob, chikuwa1\n"
    assert remove_user(text, "chikuwa1") == "User_Alias B = bob\n"


def test_sudoers_cmnd_and_host_aliases_untouched():
    text = "Cmnd_Alias X = /usr/bin/su chikuwa1\nHost_Alias H = chikuwa1\n"
    assert remove_user(text, "chikuwa1") == text


def test_sudoers_runas_alias_with_the_user_is_refused():
    with pytest.raises(EditError, match=r"^sudoers line 2: chikuwa1 is a Runas target \(Runas_Alias\)"):
        remove_user("# ops\nRunas_Alias OP = root, chikuwa1\n", "chikuwa1")


def test_remove_user_negated_member_goes_too():
    """!chikuwa1 matches only chikuwa1: without it alice's alias means the same for everyone else."""
    assert remove_user("User_Alias A = alice, !chikuwa1\n", "chikuwa1") == "User_Alias A = alice\n"
    assert remove_user("ALL, ! chikuwa1 ALL = /bin/ls\n", "chikuwa1") == "ALL ALL = /bin/ls\n"


@pytest.mark.parametrize("user", ["", "a b", "a,b", "%sudo"])
def test_remove_user_refuses_bad_name(user):
    with pytest.raises(EditError):
        remove_user(BASE, user)


# ---- the grammar as sudo reads it ----------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("alice , chikuwa1 ,bob ALL=ALL\n", "alice , bob ALL=ALL\n"),
    ("chikuwa1,alice ALL=ALL\n", "alice ALL=ALL\n"),
    ("alice, \\\n   chikuwa1 ALL=ALL\n", "alice ALL=ALL\n"),
    ("chikuwa1, \\\n   alice ALL=ALL\n", "alice ALL=ALL\n"),
    ('"chikuwa1", chik\\uwa1, chikuwa\\x31, dave ALL=ALL\n', "dave ALL=ALL\n"),
    ("alice, chikuwa1 ALL=ALL  # trailing comment\n", "alice ALL=ALL  # trailing comment\n"),
    ("chikuwa1 ALL=ALL  # trailing comment\nbob ALL=ALL\n", "bob ALL=ALL\n"),
    ("alice, chikuwa1 ALL=ALL\r\nbob ALL=ALL\r\n", "alice ALL=ALL\r\nbob ALL=ALL\r\n"),
    ("bob ALL=ALL\nchikuwa1 ALL=ALL", "bob ALL=ALL\n"),
    ("bob ALL=ALL\nalice,chikuwa1 ALL=ALL", "bob ALL=ALL\nalice ALL=ALL"),
    ("%sudo, chikuwa1, %:admins, +netgroup ALL=ALL\n", "%sudo, %:admins, +netgroup ALL=ALL\n"),
    ("%chikuwa1 ALL=ALL\n", "%chikuwa1 ALL=ALL\n"),
    ("alice, chikuwa1 ALL = (root, %adm : adm) NOPASSWD: /bin/ls -l, /usr/bin/echo a\\, b : h2 = sudoedit /etc/x\n",
     "alice ALL = (root, %adm : adm) NOPASSWD: /bin/ls -l, /usr/bin/echo a\\, b : h2 = sudoedit /etc/x\n"),
    ("chikuwa1 ALL = (alice) ALL\n", ""),
    ("Defaults:chikuwa1, alice !requiretty\n", "Defaults:alice !requiretty\n"),
    ("Defaults>chikuwa1 !lecture\nDefaults@chikuwa1 !lecture\nDefaults!/bin/ls !lecture\n",
     "Defaults@chikuwa1 !lecture\nDefaults!/bin/ls !lecture\n"),
    ("# chikuwa1 ALL=ALL \\\nchikuwa1 ALL=ALL\n", "# chikuwa1 ALL=ALL \\\n"),
    ("#includedir /etc/sudoers.d\n#include /etc/x\n@include /etc/y\n",
     "#includedir /etc/sudoers.d\n#include /etc/x\n@include /etc/y\n"),
    ("User_Alias A = chikuwa1 :\\\n  B = bob, \\\n      chikuwa1\nA, B ALL=ALL\n", "User_Alias B = bob\nB ALL=ALL\n"),
    ("User_Alias U0 = chikuwa1\nUser_Alias U1 = U0, !chikuwa1\nU1, alice ALL=ALL\n", "alice ALL=ALL\n"),
])
def test_remove_user_grammar(text, expected):
    assert remove_user(text, "chikuwa1") == expected


def test_uid_goes_only_when_given():
    text = "#1500, alice ALL=ALL\n#15000 ALL=ALL\n"
    assert remove_users(text, {"chikuwa1": 1500}) == "alice ALL=ALL\n#15000 ALL=ALL\n"
    assert remove_users(text, {"chikuwa1": None}) == text


def test_hash_digits_is_a_uid_not_a_comment():
    assert [e.kind for e in parse("#1500 ALL=ALL\n# 1500 ALL=ALL\n#-1 ALL = ALL\n").entries] == ["rule", "rule"]


def test_runas_target_of_another_users_rule_is_refused():
    with pytest.raises(EditError, match=r"^sudoers line 2: chikuwa1 is a Runas target \(in a rule that stays\)"):
        remove_user("root ALL=ALL\nalice ALL = (root, chikuwa1) /usr/bin/make\n", "chikuwa1")


def test_case_only_match_is_refused():
    with pytest.raises(EditError, match=r"^sudoers line 1: 'Chikuwa1' means chikuwa1 only because .*case-insensitively"):
        remove_user("Chikuwa1 ALL=ALL\n", "chikuwa1")


def test_uppercase_word_that_is_no_alias_means_the_user():
    """An undefined alias falls back to the user name (match.c), case-insensitively."""
    with pytest.raises(EditError, match="case-insensitively"):
        remove_user("BOB ALL=ALL\n", "bob")
    assert remove_user("User_Alias BOB = alice\nBOB ALL=ALL\n", "bob") == "User_Alias BOB = alice\nBOB ALL=ALL\n"


@pytest.mark.parametrize("text, line", [
    ("alice ALL = /bin/ls\r\n", 1),
    ("root ALL=ALL\nalice ALL = ALL \\\nDefaults env_reset\n", 3),
    ("User_Alias B =\n", 1),
    ("! !alice ALL = ALL\n", 1),
    ("alice ALL = sha256:abc /bin/ls\n", 1),
    ("alice ALL = /usr/bin/printf \\n\n", 1),
    ('alice ALL = (root) "unterminated\n', 1),
])
def test_not_sudoers_is_refused_with_the_line(text, line):
    message = rf"^f line {line}: not sudoers as sudo 1.9 reads it \(.*\); check it with visudo -cf f$"
    with pytest.raises(SudoersSyntaxError, match=message):
        parse(text, "f")


# ---- trees: includes as sudo follows them ------------------------------------------

STOCK_LIKE = "Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n"


def test_tree_follows_includedir_and_skips_what_sudo_skips():
    files = {"/etc/sudoers": STOCK_LIKE, "/etc/sudoers.d/build": "chikuwa1 ALL=(ALL) NOPASSWD: ALL\n",
             "/etc/sudoers.d/build~": "chikuwa1 ALL=ALL\n", "/etc/sudoers.d/x.bak": "chikuwa1 ALL=ALL\n"}
    listings = {"/etc/sudoers.d": ["build", "build~", "x.bak"]}
    assert remove_users_tree(files, listings, ["chikuwa1"]) == {"/etc/sudoers.d/build": ""}


def test_tree_relative_include_and_hostname():
    files = {"/etc/sudoers": "@include sudoers.%h\n", "/etc/sudoers.web": "alice, chikuwa1 ALL=ALL\n"}
    assert remove_users_tree(files, {}, ["chikuwa1"], hostname="web.example.jp") == {"/etc/sudoers.web": "alice ALL=ALL\n"}
    with pytest.raises(EditError, match=r"^/etc/sudoers: include 'sudoers.%h' uses %h"):
        remove_users_tree(files, {}, ["chikuwa1"])


def test_alias_defined_in_one_file_emptied_everywhere():
    files = {"/etc/sudoers": "User_Alias B = chikuwa1\n@includedir /etc/sudoers.d\n", "/etc/sudoers.d/a": "B, alice ALL=ALL\n"}
    out = remove_users_tree(files, {"/etc/sudoers.d": ["a"]}, ["chikuwa1"])
    assert out == {"/etc/sudoers": "@includedir /etc/sudoers.d\n", "/etc/sudoers.d/a": "alice ALL=ALL\n"}


def test_missing_inputs_walks_the_tree_step_by_step():
    files, listings = {}, {}
    host = {"/etc/sudoers": STOCK_LIKE + "#include /etc/sudoers.local\n", "/etc/sudoers.local": "@include /etc/extra\n",
            "/etc/sudoers.d/build": "alice ALL=ALL\n", "/etc/extra": "chikuwa1 ALL=ALL\n"}
    rounds = 0
    while True:
        need_files, need_dirs = missing_inputs(files, listings)
        if not need_files and not need_dirs:
            break
        rounds += 1
        files.update({path: host.get(path) for path in need_files})
        listings.update({d: ["build"] for d in need_dirs})
    assert rounds == 3 and set(files) == set(host)
    assert remove_users_tree(files, listings, ["chikuwa1"]) == {"/etc/extra": ""}


def test_tree_refusals():
    with pytest.raises(EditError, match="needs /etc/sudoers.d/"):
        remove_users_tree({"/etc/sudoers": STOCK_LIKE}, {}, ["chikuwa1"])
    with pytest.raises(EditError, match="includes /etc/gone, which does not exist"):
        remove_users_tree({"/etc/sudoers": "@include /etc/gone\n", "/etc/gone": None}, {}, ["chikuwa1"])
    with pytest.raises(EditError, match="an include loop"):
        remove_users_tree({"/etc/sudoers": "@include /etc/sudoers\n"}, {}, ["chikuwa1"])
    assert remove_users_tree({"/etc/sudoers": STOCK_LIKE}, {"/etc/sudoers.d": None}, ["chikuwa1"]) == {}


def test_parse_error_names_the_included_file():
    with pytest.raises(SudoersSyntaxError, match=r"^/etc/sudoers.d/bad line 2: "):
        remove_users_tree({"/etc/sudoers": STOCK_LIKE, "/etc/sudoers.d/bad": "root ALL=ALL\nalice ALL\n"},
                          {"/etc/sudoers.d": ["bad"]}, ["chikuwa1"])


# ---- properties on the generated grammar (model of sudo's matching) ------------------

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _unrelated(text: str) -> list[str]:
    """Lines that name no removed user and no alias, and are not part of a continued entry."""
    lines, out = text.split("\n"), []
    marks = ("chikuwa1", "chikuwa2", "chik\\uwa", "chikuwa\\x3", "#1500", "#1501", "UA")
    for i, line in enumerate(lines):
        continued = line.endswith("\\") or (i and lines[i - 1].endswith("\\"))
        if line.strip() and not continued and not any(m in line.replace("chikuwa10", "") for m in marks):
            out.append(line)
    return out


def _in_order(needles: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(any(needle == line for line in it) for needle in needles)


@PROPERTY
@given(g.trees())
def test_property_other_users_keep_exactly_their_rules(tree):
    files, listings = tree
    after = {**files, **remove_users_tree(files, listings, g.REMOVED)}
    for name in g.KEPT:
        assert g.view(after, listings, name, g.REMOVED) == g.view(files, listings, name, g.REMOVED), name


@PROPERTY
@given(g.trees())
def test_property_removed_users_are_nobody(tree):
    """Afterwards chikuwaN gets exactly what a new account with the same groups gets (ALL, %group rules)."""
    files, listings = tree
    after = {**files, **remove_users_tree(files, listings, g.REMOVED)}
    assert g.mentions(after, listings, set(g.REMOVED)) == []
    for removed, stand_in in g.STAND_IN.items():
        assert g.view(after, listings, removed) == g.view(after, listings, stand_in)


@PROPERTY
@given(g.trees())
def test_property_idempotent_and_unrelated_lines_kept(tree):
    files, listings = tree
    changes = remove_users_tree(files, listings, g.REMOVED)
    after = {**files, **changes}
    assert remove_users_tree(after, listings, g.REMOVED) == {}
    assert not {"/etc/sudoers.d/50-build~", "/etc/sudoers.d/old.dpkg-old"} & set(changes)
    for path, text in changes.items():
        assert _in_order(_unrelated(files[path]), text.split("\n")), path


@PROPERTY
@given(g.entries())
def test_property_tokens_cover_the_text_in_order(lines):
    """Every token lies inside the text, in order, without overlap (edits are cuts of the original)."""
    text = "\n".join(lines)
    tokens = tokenize(text)
    assert all(a.end <= b.start for a, b in zip(tokens, tokens[1:]))
    assert all(0 <= t.start <= t.end <= len(text) + 1 for t in tokens)
    assert not [t for t in tokens if t.kind == "ERROR"]


# ---- the seed's properties (sampled lines) ------------------------------------

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
