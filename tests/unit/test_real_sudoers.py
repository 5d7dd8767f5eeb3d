"""sudoers edits judged by sudo itself: Debian's sudo package (visudo, sudo -l, cvtsudoers) on real files.

Everything runs in a private mount namespace with a test /etc over the real one
(tests/debfiles.with_etc): nothing on this machine changes. Skipped with the
reason when apt cannot fetch the package.
"""

import pytest
import sudoers_grammar as g
from hypothesis import HealthCheck, given, settings, strategies as st

from fabfile.edit import EditError
from fabfile.edit.sudoers import load_tree, parse, remove_users_tree
from tests.debfiles import unpacked

LISTED = g.KEPT + ["chikuwa1", "chikuwa2", "fresh1", "fresh2"]


@pytest.fixture(scope="module")
def sudo_tree():
    return unpacked("sudo")


@pytest.fixture(scope="module")
def stock(sudo_tree):
    return {"/etc/sudoers": (sudo_tree / "etc/sudoers").read_text(),
            "/etc/sudoers.d/README": (sudo_tree / "etc/sudoers.d/README").read_text()}


def _assert_same_for_others(before: dict, after: dict):
    for name in g.KEPT:
        for tool in ("sudo", "cvtsudoers"):
            assert g.without_runas_defaults_of(after[name][tool], g.REMOVED) == \
                g.without_runas_defaults_of(before[name][tool], g.REMOVED), (name, tool)


def _assert_removed_are_nobody(after: dict):
    for removed, stand_in in g.STAND_IN.items():
        assert after[removed]["sudo"].replace(removed, "X") == after[stand_in]["sudo"].replace(stand_in, "X")


def test_debian_stock_sudoers_is_read_as_visudo_reads_it(sudo_tree, stock):
    tree = load_tree(stock, {"/etc/sudoers.d": ["README"]})
    kinds = [(e.kind, e.binding or e.include) for _, e in tree.order]
    assert kinds == [("defaults", "")] * 4 + [("rule", ""), ("rule", ""), ("include", "dir")]
    assert [str(i.value) for _, e in tree.order if e.kind == "rule" for i in e.users] == ["root", "%sudo"]
    assert g.real_views(sudo_tree, stock, [])["visudo"][0] == 0
    assert remove_users_tree(stock, {"/etc/sudoers.d": ["README"]}, g.REMOVED) == {}


def test_debian_stock_with_the_build_accounts(sudo_tree, stock):
    """A3 on a stock Debian: the builders' drop-in, a site alias shared with alice, a Defaults line."""
    files = {**stock,
             "/etc/sudoers.d/chikuwa": "# build accounts\nchikuwa1 ALL=(ALL) NOPASSWD: ALL\nchikuwa2 ALL=(ALL) NOPASSWD: ALL\n",
             "/etc/sudoers.d/site": ("User_Alias BUILD = chikuwa1, \\\n    chikuwa2, alice\nDefaults:BUILD !lecture\n"
                                     "BUILD ALL = (root) /usr/bin/apt-get update, /usr/bin/make\n"
                                     "Defaults:chikuwa2,bob env_keep += \"MAKEFLAGS\"\n")}
    listings = {"/etc/sudoers.d": ["README", "chikuwa", "site"]}
    changes = remove_users_tree(files, listings, g.REMOVED)
    assert changes == {
        "/etc/sudoers.d/chikuwa": "# build accounts\n",
        "/etc/sudoers.d/site": ("User_Alias BUILD = alice\nDefaults:BUILD !lecture\n"
                                "BUILD ALL = (root) /usr/bin/apt-get update, /usr/bin/make\n"
                                "Defaults:bob env_keep += \"MAKEFLAGS\"\n"),
    }
    after = {**files, **changes}
    before_views = g.real_views(sudo_tree, files, LISTED)
    after_views = g.real_views(sudo_tree, after, LISTED, check_each=sorted(changes))
    assert after_views["visudo"][0] == 0 and all(rc == 0 for rc, _ in after_views["each"])
    _assert_same_for_others(before_views, after_views)
    _assert_removed_are_nobody(after_views)
    assert "User chikuwa1 is not allowed to run sudo on testhost." in after_views["chikuwa1"]["sudo"]
    assert "(root) /usr/bin/apt-get update, /usr/bin/make" in after_views["alice"]["sudo"]


REAL = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


@REAL
@given(st.data())
def test_property_sudo_itself_sees_no_other_change(sudo_tree, stock, data):
    """Generated trees on top of Debian's stock files: visudo accepts before and after (each changed file
    on its own too); sudo -l -U and cvtsudoers show every other user the same rules and Defaults; the
    removed users get what a new account with their groups gets; a second run changes nothing."""
    files, listings = data.draw(g.trees(stock))
    changes = remove_users_tree(files, listings, g.REMOVED)
    after = {**files, **changes}
    assert remove_users_tree(after, listings, g.REMOVED) == {}
    before_views = g.real_views(sudo_tree, files, LISTED)
    assert before_views["visudo"][0] == 0, before_views["visudo"][1]
    after_views = g.real_views(sudo_tree, after, LISTED, check_each=sorted(changes))
    assert after_views["visudo"][0] == 0, after_views["visudo"][1]
    assert all(rc == 0 for rc, _ in after_views["each"]), after_views["each"]
    _assert_same_for_others(before_views, after_views)
    _assert_removed_are_nobody(after_views)


@REAL
@given(g.trees())
def test_property_parser_accepts_what_visudo_accepts(sudo_tree, tree):
    files, listings = tree
    assert g.real_views(sudo_tree, files, [])["visudo"][0] == 0
    load_tree(files, listings)


_MUTATION = st.sampled_from(list('\\"#!,:=()% \t\n^$*') + ["\\\n", "\r\n", "ALL", "#1", "Defaults", "@include x", "%:"])


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(g.entries(), st.lists(st.tuples(st.booleans(), st.integers(0, 10**6), _MUTATION), min_size=1, max_size=3))
def test_property_parser_refuses_what_visudo_refuses(sudo_tree, lines, mutations):
    """Generated text with a few characters deleted or inserted: the parser refuses exactly when visudo
    does (visudo also checks Defaults names and values, which is not grammar)."""
    text = "\n".join(lines) + "\n"
    for delete, where, insert in mutations:
        where %= len(text) + 1
        text = text[:where] + text[where + 1:] if delete else text[:where] + insert + text[where:]
    mine, rc, output = parsed_and_visudo(sudo_tree, text)
    semantic = any(s in output for s in ("unknown defaults entry", "value for", "invalid", "does not take a value"))
    assert mine == (rc == 0) or (mine and semantic), output


@pytest.mark.parametrize("line", [
    "alice ALL = CWD=/t\\mp /bin/ls",        # a WORD, not the PATH /t then junk (the longest match wins)
    "alice ALL = CHROOT=/srv\\ x /bin/ls",  # an escaped blank inside the path
    "alice ALL = CWD=/tmp\\",               # a trailing backslash: refused by both
])
def test_cwd_and_chroot_values_are_read_as_visudo_reads_them(sudo_tree, line):
    """Found by the property above: the option's value is PATH or WORD, whichever is longer."""
    mine, rc, output = parsed_and_visudo(sudo_tree, line + "\n")
    assert mine == (rc == 0), output


def parsed_and_visudo(sudo_tree, text: str) -> tuple[bool, int, str]:
    """(the parser accepts TEXT as /etc/sudoers, visudo -c's exit status, visudo's output)."""
    rc, output = g.real_views(sudo_tree, {"/etc/sudoers": text}, [])["visudo"]
    try:
        parse(text, "/etc/sudoers")
        return True, rc, output
    except EditError:
        return False, rc, output
