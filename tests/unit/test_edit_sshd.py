"""sshd_config as sshd reads it: lexer, Match criteria, Include, the two passes, the planner.

The single-file helpers (get_option, set_option, comment_out, uncomment)
come first, then the model; tests/unit/test_real_sshd.py checks the same
model against the real sshd (Debian 12's 9.2 and Debian 13's 10.0).
"""

import pytest
from hypothesis import given, settings, strategies as st

from fabfile.edit import EditError
from fabfile.edit.sshd import (
    Connection, Default, Setting, Undecidable, addr_match_list, comment_out, effective, explain, from_files,
    get_option, match_pattern_list, parse_directive, peer, plan_effective, resolve, set_option, uncomment,
)

SEED = """# sshd_config on new
Port 22
PermitRootLogin no
#PermitRootLogin yes
PermitRootLogin forced-commands-only
UsePAM yes

Match User backup
    PermitRootLogin yes
    ForceCommand /bin/false
"""


def test_get_option_first_global_match_wins():
    assert get_option(SEED, "PermitRootLogin") == "no"


def test_get_option_keyword_is_case_insensitive():
    assert get_option(SEED, "permitrootlogin") == "no"
    assert get_option("PERMITROOTLOGIN yes\n", "PermitRootLogin") == "yes"


def test_get_option_ignores_match_block():
    assert get_option(SEED, "ForceCommand") is None


def test_get_option_absent_is_none():
    assert get_option(SEED, "X11Forwarding") is None


def test_get_option_accepts_equals_separator():
    assert get_option("PermitRootLogin=no\n", "PermitRootLogin") == "no"


def test_get_option_ignores_comments():
    assert get_option("#PermitRootLogin yes\n", "PermitRootLogin") is None


def test_set_option_rewrites_first_global_occurrence_only():
    out = set_option(SEED, "PermitRootLogin", "prohibit-password")
    assert get_option(out, "PermitRootLogin") == "prohibit-password"
    assert "PermitRootLogin forced-commands-only\n" in out
    assert "    PermitRootLogin yes\n" in out  # the Match block's line
    assert out.count("\n") == SEED.count("\n")


def test_set_option_keeps_indentation_and_keyword_spelling():
    out = set_option("  permitrootlogin no\n", "PermitRootLogin", "yes")
    assert out == "  permitrootlogin yes\n"


def test_set_option_same_value_returns_text_unchanged():
    text = "PermitRootLogin   no   \n"
    assert set_option(text, "PermitRootLogin", "no") is text


def test_set_option_inserts_before_first_match_block():
    text = "Port 22\nMatch User a\n  X11Forwarding yes\nMatch all\n"
    out = set_option(text, "X11Forwarding", "no")
    assert out == "Port 22\nX11Forwarding no\nMatch User a\n  X11Forwarding yes\nMatch all\n"


def test_set_option_appends_at_end_without_match():
    assert set_option("Port 22\n", "PermitRootLogin", "no") == "Port 22\nPermitRootLogin no\n"


def test_set_option_appends_after_missing_final_newline():
    assert set_option("Port 22", "PermitRootLogin", "no") == "Port 22\nPermitRootLogin no\n"


def test_set_option_on_empty_file():
    assert set_option("", "PermitRootLogin", "no") == "PermitRootLogin no\n"


def test_set_option_keeps_crlf_line_ending():
    assert set_option("PermitRootLogin no\r\nPort 22\r\n", "PermitRootLogin", "yes") == "PermitRootLogin yes\r\nPort 22\r\n"


def test_set_option_with_equals_form_keeps_the_equals():
    # was: rewritten as "PermitRootLogin yes"; only the value changes now (the line's own bytes are kept)
    assert set_option("PermitRootLogin=no\n", "PermitRootLogin", "yes") == "PermitRootLogin=yes\n"


def test_set_option_keeps_trailing_comment():
    assert set_option("PermitRootLogin no # was yes\n", "PermitRootLogin", "yes") == "PermitRootLogin yes # was yes\n"


def test_set_option_inserts_before_first_include():
    text = "# head\nInclude /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\n"
    wanted = "# head\nPermitRootLogin no\nInclude /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\n"
    assert set_option(text, "PermitRootLogin", "no") == wanted


@pytest.mark.parametrize("keyword", ["", "Permit Root", "a=b", "Match"])
def test_set_option_refuses_bad_keyword(keyword):
    with pytest.raises(EditError):
        set_option("", keyword, "yes")


@pytest.mark.parametrize("value", ["", "  ", "yes\nPort 2"])
def test_set_option_refuses_bad_value(value):
    with pytest.raises(EditError):
        set_option("", "PermitRootLogin", value)


def test_comment_out_forced_commands_only():
    out = comment_out(SEED, "PermitRootLogin forced-commands-only")
    assert "#PermitRootLogin forced-commands-only\n" in out
    assert "PermitRootLogin no\n" in out


def test_comment_out_matches_modulo_whitespace_and_keyword_case():
    text = "  permitrootlogin   forced-commands-only  \n"
    assert comment_out(text, " PermitRootLogin forced-commands-only ") == "  #permitrootlogin   forced-commands-only  \n"


def test_comment_out_value_must_match():
    text = "PermitRootLogin no\n"
    assert comment_out(text, "PermitRootLogin forced-commands-only") == text


def test_comment_out_already_commented_is_unchanged():
    text = "#PermitRootLogin forced-commands-only\n# PermitRootLogin forced-commands-only\n"
    assert comment_out(text, "PermitRootLogin forced-commands-only") == text


def test_comment_out_leaves_match_block_alone():
    text = "Port 22\nMatch User a\nPermitRootLogin forced-commands-only\n"
    assert comment_out(text, "PermitRootLogin forced-commands-only") == text


def test_uncomment_restores_comment_out():
    line = "PermitRootLogin forced-commands-only"
    assert uncomment(comment_out(SEED, line), line) == SEED


def test_uncomment_leaves_prose_comments():
    text = "## PermitRootLogin forced-commands-only is risky\n"
    assert uncomment(text, "PermitRootLogin forced-commands-only") == text


def test_comment_out_refuses_non_directive():
    with pytest.raises(EditError):
        comment_out("", "# just a comment")


# ---- properties ------------------------------------------------------------

_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-/._", min_size=1, max_size=12)
_keyword = st.sampled_from(["Port", "UsePAM", "X11Forwarding", "PasswordAuthentication", "AllowUsers", "Subsystem"])
_unrelated_line = st.one_of(
    st.builds(lambda k, v, i: f"{i}{k} {v}", _keyword, _word, st.sampled_from(["", " ", "\t"])),
    st.builds(lambda c: "#" + c, st.text(alphabet="abc PermitRootLogin yes", max_size=30)),
    st.just(""),
)
_target_line = st.builds(
    lambda k, v, i: f"{i}{k} {v}",
    st.sampled_from(["PermitRootLogin", "permitrootlogin", "PERMITROOTLOGIN"]),
    st.sampled_from(["no", "yes", "forced-commands-only", "prohibit-password"]),
    st.sampled_from(["", "  "]),
)
_any_line = st.one_of(_unrelated_line, _target_line, st.sampled_from(["Match User x", "Match all"]))
_value = st.sampled_from(["no", "yes", "prohibit-password", "forced-commands-only"])


def _text(lines, final_newline=True):
    return "\n".join(lines) + ("\n" if final_newline and lines else "")


@settings(max_examples=150, deadline=None)
@given(st.lists(_any_line, max_size=12), _value)
def test_property_set_option_idempotent(lines, value):
    once = set_option(_text(lines), "PermitRootLogin", value)
    assert set_option(once, "PermitRootLogin", value) == once
    assert get_option(once, "PermitRootLogin") == value


@settings(max_examples=150, deadline=None)
@given(st.lists(_unrelated_line, max_size=10), st.lists(_unrelated_line, max_size=10), _target_line, _value)
def test_property_set_option_keeps_unrelated_lines(before, after, target, value):
    text = _text(before + [target] + after)
    out = set_option(text, "PermitRootLogin", value)
    out_lines = out.split("\n")
    assert out_lines[: len(before)] == before
    assert out_lines[len(before) + 1 : -1] == after
    assert out_lines[len(before)].split()[-1] == value


@settings(max_examples=150, deadline=None)
@given(st.lists(_unrelated_line, max_size=12), st.booleans(), _value)
def test_property_set_option_appends_when_absent(lines, final_newline, value):
    text = _text(lines, final_newline)
    out = set_option(text, "PermitRootLogin", value)
    assert out.startswith(text)
    assert out[len(text):].lstrip("\n") == f"PermitRootLogin {value}\n"


@settings(max_examples=150, deadline=None)
@given(st.lists(_any_line, max_size=12))
def test_property_comment_out_idempotent_and_local(lines):
    line = "PermitRootLogin forced-commands-only"
    text = _text(lines)
    once = comment_out(text, line)
    assert comment_out(once, line) == once
    for old, new in zip(text.split("\n"), once.split("\n")):
        assert new == old or (new.replace("#", "", 1) == old and "forced-commands-only" in old)


# ---- the lexer (misc.c strdelim / argv_split) ------------------------------------------


@pytest.mark.parametrize("line, keyword, args", [
    ("PermitRootLogin no", "PermitRootLogin", ("no",)),
    ("PermitRootLogin=no", "PermitRootLogin", ("no",)),
    ("PermitRootLogin = no", "PermitRootLogin", ("no",)),
    ("  permitrootlogin\t\"no\"  # why", "permitrootlogin", ("no",)),
    ("Subsystem sftp /usr/lib/openssh/sftp-server", "Subsystem", ("sftp", "/usr/lib/openssh/sftp-server")),
    ("AcceptEnv 'LANG LC_*' X\\ Y", "AcceptEnv", ("LANG LC_*", "X Y")),
    ("PermitRootLogin no\r", "PermitRootLogin", ("no",)),
])
def test_parse_directive_as_sshd_tokenizes(line, keyword, args):
    directive = parse_directive(line)
    assert (directive.keyword, directive.args) == (keyword, args)


def test_parse_directive_spans_point_at_the_value():
    line = 'PermitRootLogin = "no" # c'
    directive = parse_directive(line)
    start, end = directive.spans[0]
    assert line[start:end] == '"no"'


@pytest.mark.parametrize("line", ["", "   ", "# PermitRootLogin yes", '"PermitRootLogin yes'])
def test_parse_directive_not_a_directive(line):
    # the last one: sshd's strdelim returns NULL on an unmatched quote, and sshd skips the line
    assert parse_directive(line) is None


@pytest.mark.parametrize("line", ["PermitRootLogin", "PermitRootLogin   ", 'PermitRootLogin "no'])
def test_parse_directive_refuses_what_sshd_refuses(line):
    with pytest.raises(EditError):
        parse_directive(line, "/etc/ssh/x", 3)


# ---- Match criteria ----------------------------------------------------------------------


@pytest.mark.parametrize("string, patterns, result", [
    ("root", "root", 1), ("root", "r*", 1), ("root", "?oot", 1), ("root", "bob", 0),
    ("root", "!root,*", -1), ("bob", "!root,*", 1), ("bob", "!root", 0), ("root", "bob,root", 1),
])
def test_match_pattern_list(string, patterns, result):
    assert match_pattern_list(string, patterns) == result


def test_match_pattern_list_lowercases_patterns_only():
    assert match_pattern_list("old", "OLD", dolower=True) == 1
    assert match_pattern_list("OLD", "old", dolower=True) == 0


@pytest.mark.parametrize("addr, patterns, result", [
    ("192.0.2.9", "192.0.2.9", 1), ("192.0.2.9", "192.0.2.0/24", 1), ("192.0.2.9", "192.0.3.0/24", 0),
    ("192.0.2.9", "!192.0.2.9,192.0.2.0/24", -1), ("192.0.2.8", "!192.0.2.9,192.0.2.0/24", 1),
    ("192.0.2.9", "192.0.2.*", 1), ("192.0.2.9", "192.0.2.1/24", -2), ("192.0.2.9", "192.0.2.0/33", -2),
    ("10.0.0.1", "10.1", 1), ("2001:db8::5", "2001:db8::/32", 1), ("2001:db8::5", "192.0.2.0/24", 0),
    ("192.0.2.9", "", -2), ("192.0.2.9", "a,!", -2),
])
def test_addr_match_list(addr, patterns, result):
    assert addr_match_list(addr, patterns) == result


ROOT = Connection("root", "old", "192.0.2.9", groups=("root",), test=True)
BOB = Connection("bob", "new", "198.51.100.7", groups=(), test=True)
MAIN = "/etc/ssh/sshd_config"
DROPIN = "/etc/ssh/sshd_config.d/50-local.conf"


def prl(files, conn=ROOT):
    return effective(from_files(files), "PermitRootLogin", conn)


@pytest.mark.parametrize("header, root, bob", [
    ("Match User root", "yes", "prohibit-password"),
    ("Match User=root", "yes", "prohibit-password"),
    ("Match User !root,*", "prohibit-password", "yes"),
    ("Match Address 192.0.2.0/24", "yes", "prohibit-password"),
    ("Match Host old", "yes", "prohibit-password"),
    ("Match Host OLD", "yes", "prohibit-password"),
    ("Match Group root", "yes", "prohibit-password"),
    ("Match User root Address 198.51.100.0/24", "prohibit-password", "prohibit-password"),
    ("Match All", "yes", "yes"),
    ("Match LocalAddress 10.0.0.1", "prohibit-password", "prohibit-password"),
    ("Match User root # comment", "yes", "prohibit-password"),
])
def test_match_block_for_one_connection(header, root, bob):
    files = {MAIN: f"{header}\n  PermitRootLogin yes\n"}
    assert (prl(files, ROOT), prl(files, BOB)) == (root, bob)


def test_match_group_is_undecidable_without_groups():
    files = {MAIN: "Match Group wheel\n  PermitRootLogin yes\n"}
    with pytest.raises(Undecidable) as error:
        resolve(from_files(files), "PermitRootLogin", Connection("root", "old", "192.0.2.9"))
    assert f"{MAIN}:2" in str(error.value) and f"'Match Group wheel' at {MAIN}:1" in str(error.value)


def test_unknown_field_is_undecidable_outside_test_mode_and_false_under_sshd_t():
    files = {MAIN: "Match LocalAddress 10.0.0.1\n  PermitRootLogin yes\n"}
    with pytest.raises(Undecidable):
        prl(files, Connection("root", "old", "192.0.2.9"))
    assert prl(files, Connection("root", "old", "192.0.2.9", test=True)) == "prohibit-password"
    assert prl(files, Connection("root", "old", "192.0.2.9", laddr="10.0.0.1")) == "yes"


def test_match_localport_without_lport_is_refused_like_sshd_t():
    with pytest.raises(EditError, match="lport"):
        prl({MAIN: "Match LocalPort 22\n  PermitRootLogin yes\n"})


def test_undecidable_block_after_the_deciding_one_does_not_matter():
    files = {MAIN: "Match User root\n  PermitRootLogin yes\nMatch Group wheel\n  PermitRootLogin no\n"}
    assert prl(files, Connection("root", "old", "192.0.2.9")) == "yes"


@pytest.mark.parametrize("header", ["Match", "Match User", "Match all User root", "Match Color red",
                                    "Match Address 192.0.2.1/24"])
def test_bad_match_line_is_refused(header):
    with pytest.raises(EditError):
        prl({MAIN: f"{header}\n  PermitRootLogin yes\n"})


# ---- the two passes and Include -------------------------------------------------------------


def test_first_value_wins_in_the_global_part():
    assert prl({MAIN: "PermitRootLogin no\nPermitRootLogin yes\n"}) == "no"


def test_match_value_overrides_an_earlier_global_value():
    assert prl({MAIN: "PermitRootLogin no\nMatch User root\n  PermitRootLogin yes\n"}) == "yes"


def test_debian_dropin_wins_over_the_main_file():
    files = {MAIN: "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\n", DROPIN: "PermitRootLogin no\n"}
    source = resolve(from_files(files), "PermitRootLogin", ROOT)
    assert isinstance(source, Setting) and source.directive.where == f"{DROPIN}:1" and source.match is None


def test_include_relative_to_etc_ssh_with_several_arguments_in_glob_order():
    files = {
        MAIN: "Include sshd_config.d/b.conf sshd_config.d/*.conf\n",
        "/etc/ssh/sshd_config.d/a.conf": "PermitRootLogin yes\n",
        "/etc/ssh/sshd_config.d/b.conf": "PermitRootLogin no\n",
    }
    assert prl(files) == "no"  # b.conf first: its argument comes first
    files[MAIN] = "Include sshd_config.d/*.conf\n"
    assert prl(files) == "yes"  # a.conf sorts first


def test_include_glob_skips_dotfiles_and_other_suffixes_and_sorts_bytewise():
    files = {
        MAIN: "Include sshd_config.d/*.conf\n",
        "/etc/ssh/sshd_config.d/.hidden.conf": "PermitRootLogin no\n",
        "/etc/ssh/sshd_config.d/x.conf.disabled": "PermitRootLogin no\n",
        "/etc/ssh/sshd_config.d/a.conf": "PermitRootLogin forced-commands-only\n",
        "/etc/ssh/sshd_config.d/Z.conf": "PermitRootLogin yes\n",
    }
    assert prl(files) == "yes"  # "Z" < "a" in byte order


def test_match_ends_at_the_end_of_the_included_file():
    files = {MAIN: "Include sshd_config.d/*.conf\nPermitRootLogin no\n", DROPIN: "Match User bob\n  X11Forwarding no\n"}
    assert prl(files, ROOT) == "no" and prl(files, BOB) == "no"


def test_include_inside_a_non_matching_match_never_activates_its_blocks():
    files = {MAIN: "Match User bob\nInclude sshd_config.d/*.conf\n", DROPIN: "Match all\n  PermitRootLogin yes\n"}
    assert prl(files, ROOT) == "prohibit-password" and prl(files, BOB) == "yes"


def test_include_inside_a_matching_match_applies_its_lines_and_the_block_goes_on():
    files = {MAIN: "Match User root\nInclude sshd_config.d/*.conf\nPermitRootLogin no\n", DROPIN: "X11Forwarding no\n"}
    assert prl(files, ROOT) == "no" and prl(files, BOB) == "prohibit-password"


def _chain(depth):
    files = {MAIN: "Include /etc/ssh/d1.conf\n"}
    for level in range(1, depth + 1):
        files[f"/etc/ssh/d{level}.conf"] = f"Include /etc/ssh/d{level + 1}.conf\n" if level < depth else "PermitRootLogin yes\n"
    return files


def test_include_depth_16_is_read_17_is_refused():
    assert prl(_chain(16)) == "yes"
    with pytest.raises(EditError, match="deeper than 16"):
        prl(_chain(17))


def test_include_loop_is_refused():
    with pytest.raises(EditError, match="includes itself"):
        prl({MAIN: "Include /etc/ssh/a.conf\n", "/etc/ssh/a.conf": "Include /etc/ssh/a.conf\n"})


def test_missing_include_target_is_no_error():
    assert prl({MAIN: "Include /etc/ssh/nothing/*.conf\nPermitRootLogin no\n"}) == "no"


def test_default_when_nothing_sets_it():
    source = resolve(from_files({MAIN: "#PermitRootLogin yes\n"}), "PermitRootLogin", ROOT)
    assert isinstance(source, Default) and source.value == "prohibit-password"


def test_without_password_is_prohibit_password():
    assert prl({MAIN: "PermitRootLogin without-password\n"}) == "prohibit-password"


def test_peer_matches_host_against_the_address_unless_usedns():
    files = {MAIN: "Match Host old\n  PermitRootLogin yes\n"}
    config = from_files(files)
    assert peer(config, "root", "old", "192.0.2.9").host == "192.0.2.9"
    assert prl(files, peer(config, "root", "old", "192.0.2.9")) == "prohibit-password"
    config = from_files({MAIN: "UseDNS yes\n" + files[MAIN]})
    assert effective(config, "PermitRootLogin", peer(config, "root", "old", "192.0.2.9")) == "yes"


def test_connection_spec_for_sshd_t():
    assert Connection("root", "old", "192.0.2.9", lport=22).spec() == "user=root,host=old,addr=192.0.2.9,lport=22"


def test_explain_names_file_line_and_block():
    text = explain(from_files({MAIN: "Match User root\n  PermitRootLogin no\n"}), "PermitRootLogin", ROOT)
    assert f"{MAIN}:2" in text and "Match User root" in text and "\n" not in text


@pytest.mark.parametrize("keyword", ["AllowUsers", "Match", "Include", "Permit Root"])
def test_resolve_refuses_keywords_without_a_single_source(keyword):
    with pytest.raises(EditError):
        resolve(from_files({MAIN: ""}), keyword, ROOT)


# ---- the planner --------------------------------------------------------------------------------

DEBIAN_MAIN = "# head\n\nInclude /etc/ssh/sshd_config.d/*.conf\n\n#PermitRootLogin prohibit-password\nUsePAM yes\n"


def plan(files, value="prohibit-password", conn=ROOT, **kwargs):
    return plan_effective(from_files(files), "PermitRootLogin", value, conn, **kwargs)


def test_plan_edits_the_dropin_that_wins_and_nothing_else():
    files = {MAIN: DEBIAN_MAIN, DROPIN: "# local\nPermitRootLogin no\n"}
    assert plan(files) == {DROPIN: "# local\nPermitRootLogin prohibit-password\n"}


def test_plan_inserts_before_the_first_include_when_nothing_sets_it():
    files = {MAIN: DEBIAN_MAIN}
    out = plan(files, "yes")
    assert out == {MAIN: DEBIAN_MAIN.replace("Include", "PermitRootLogin yes\nInclude", 1)}


def test_plan_nothing_to_do_when_the_default_is_wanted():
    assert plan({MAIN: DEBIAN_MAIN}) == {}


def test_plan_edits_main_before_the_include():
    files = {MAIN: "PermitRootLogin=no # closed\nInclude /etc/ssh/sshd_config.d/*.conf\n", DROPIN: "PermitRootLogin yes\n"}
    assert plan(files) == {MAIN: "PermitRootLogin=prohibit-password # closed\nInclude /etc/ssh/sshd_config.d/*.conf\n"}


def test_plan_edits_the_matching_match_block_line():
    files = {MAIN: "PermitRootLogin yes\nMatch User bob\n  PermitRootLogin yes\n"
                   "Match Address 192.0.2.0/24\n  PermitRootLogin no\n"}
    out = plan(files)
    assert out == {MAIN: files[MAIN].replace("  PermitRootLogin no", "  PermitRootLogin prohibit-password")}


def test_plan_comments_out_forced_commands_only_where_it_applies():
    seed = "PermitRootLogin no\nPermitRootLogin forced-commands-only\nMatch User bob\n  PermitRootLogin forced-commands-only\n"
    out = plan({MAIN: seed}, comment_out=["PermitRootLogin forced-commands-only"])
    assert out == {MAIN: "PermitRootLogin prohibit-password\n#PermitRootLogin forced-commands-only\n"
                         "Match User bob\n  PermitRootLogin forced-commands-only\n"}


def test_plan_comment_out_of_the_winning_line_falls_through_to_the_next():
    files = {MAIN: "PermitRootLogin forced-commands-only\nPermitRootLogin no\n"}
    out = plan(files, comment_out=["PermitRootLogin forced-commands-only"])
    assert out == {MAIN: "#PermitRootLogin forced-commands-only\nPermitRootLogin prohibit-password\n"}


def test_plan_refuses_an_undecidable_match_naming_file_and_line():
    files = {MAIN: DEBIAN_MAIN, DROPIN: "Match Group admins\n  PermitRootLogin no\n"}
    with pytest.raises(Undecidable) as error:
        plan(files, conn=Connection("root", "old", "192.0.2.9"))
    message = str(error.value)
    assert f"{DROPIN}:2" in message and "Match Group admins" in message and "\n" not in message


def test_plan_refuses_a_file_it_may_not_edit():
    files = {MAIN: "Include /usr/share/ssh/*.conf\n", "/usr/share/ssh/x.conf": "PermitRootLogin no\n"}
    with pytest.raises(EditError, match="/usr/share/ssh/x.conf:1"):
        plan(files, editable=lambda path: path.startswith("/etc/ssh/"))


def test_plan_refuses_comment_out_of_the_wanted_line():
    with pytest.raises(EditError):
        plan({MAIN: ""}, comment_out=["PermitRootLogin prohibit-password"])


def test_plan_keeps_crlf():
    files = {MAIN: "Port 22\r\nInclude /etc/ssh/x/*.conf\r\n"}
    assert plan(files, "yes") == {MAIN: "Port 22\r\nPermitRootLogin yes\r\nInclude /etc/ssh/x/*.conf\r\n"}


def test_plan_again_on_the_result_changes_nothing():
    files = {MAIN: DEBIAN_MAIN, DROPIN: "PermitRootLogin no\n"}
    once = {**files, **plan(files, "yes")}
    assert plan(once, "yes") == {}


# ---- generated configurations: the grammar --------------------------------------------------------

PRL_VALUES = ["yes", "no", "prohibit-password", "without-password", "forced-commands-only", "No", "YES"]
CRITERIA = [
    "User root", "User bob", "User r*", "User !root,*", "User root,bob", "User=root", "Address 192.0.2.9",
    "Address 192.0.2.0/24", "Address !192.0.2.9,192.0.2.0/24", "Address 198.51.100.*", "Host old",
    "Host *.example", "Host OLD", "LocalAddress 10.0.0.1", "Group root", "RDomain r1",
]


@st.composite
def prl_lines(draw):
    """A PermitRootLogin line in any spelling sshd accepts."""
    keyword = draw(st.sampled_from(["PermitRootLogin", "permitrootlogin", "PERMITROOTLOGIN"]))
    separator = draw(st.sampled_from([" ", "\t", "=", " = ", "  "]))
    value = draw(st.sampled_from(PRL_VALUES))
    value = f'"{value}"' if draw(st.booleans()) else value
    comment = draw(st.sampled_from(["", "", " # set by the admin"]))
    return draw(st.sampled_from(["", "  ", "\t"])) + keyword + separator + value + comment


_filler = st.sampled_from(["", "# PermitRootLogin yes", "#PermitRootLogin no", "X11Forwarding no", "# a comment"])
_global_only = st.sampled_from(["UsePAM yes", "PrintMotd no"])


@st.composite
def match_blocks(draw, includes=()):
    """Match header and body (keywords allowed in Match blocks only)."""
    if draw(st.integers(0, 5)) == 0:
        header = draw(st.sampled_from(["Match all", "Match All"]))
    else:
        header = "Match " + " ".join(draw(st.lists(st.sampled_from(CRITERIA), min_size=1, max_size=2)))
    body = st.one_of(prl_lines(), _filler, *(st.just(i) for i in includes))
    return [header] + ["  " + line if line else line for line in draw(st.lists(body, max_size=3))]


@st.composite
def config_files(draw, includes=(), nested=(), global_only=False):
    """One file: global lines (with the given Include lines) then Match blocks.

    Keywords sshd refuses inside a Match block (UsePAM, PrintMotd) only where
    no Match can enclose them: the main file's global part.
    """
    extra = [_global_only] if global_only else []
    lines = draw(st.lists(st.one_of(prl_lines(), _filler, *extra, *(st.just(i) for i in includes)), max_size=5))
    for block in draw(st.lists(match_blocks(nested), max_size=2)):
        lines += block
    return "\n".join(lines) + ("\n" if lines else "")


DROPIN_NAMES = ["10-a.conf", "50-local.conf", "Z9.conf", ".hidden.conf", "x.conf.disabled"]
MAIN_INCLUDES = ["Include /etc/ssh/sshd_config.d/*.conf", "Include sshd_config.d/*.conf",
                 "Include sshd_config.d/50-local.conf /etc/ssh/extra.d/*.conf", "Include /etc/ssh/none.d/*.conf"]


@st.composite
def configurations(draw):
    """{path: text} of /etc/ssh: main file, drop-ins, and a second directory they may include."""
    files = {MAIN: draw(config_files(includes=MAIN_INCLUDES, nested=MAIN_INCLUDES[:1], global_only=True))}
    for name in draw(st.lists(st.sampled_from(DROPIN_NAMES), unique=True, max_size=3)):
        files[f"/etc/ssh/sshd_config.d/{name}"] = draw(config_files(includes=["Include /etc/ssh/extra.d/*.conf"]))
    for name in draw(st.lists(st.sampled_from(["a.conf", "b.conf"]), unique=True, max_size=2)):
        files[f"/etc/ssh/extra.d/{name}"] = draw(config_files())
    return files


OTHERS = [BOB, Connection("root", "x.example", "192.0.2.77", groups=("root",), test=True),
          Connection("alice", "old", "192.0.2.9", groups=("staff",), test=True)]


def _aligned(old: list, new: list) -> tuple[list, int | None]:
    """new without its inserted line (the plan inserts at most one), and that line's index."""
    if len(new) == len(old):
        return new, None
    assert len(new) == len(old) + 1, (old, new)
    def cost(k):
        return sum(a != b for a, b in zip(old, new[:k] + new[k + 1:]))
    candidates = [k for k in range(len(new)) if (parse_directive(new[k]) or parse_directive("x y")).name == "permitrootlogin"]
    k = min(candidates, key=cost)
    return new[:k] + new[k + 1:], k


def touched(before: dict, after: dict) -> tuple[set, bool]:
    """(path, line number) of the lines the plan changed, and whether it inserted a line."""
    lines, inserted = set(), False
    for path, text in after.items():
        new, k = _aligned(before[path].split("\n"), text.split("\n"))
        inserted = inserted or k is not None
        lines |= {(path, n + 1) for n, (a, b) in enumerate(zip(before[path].split("\n"), new)) if a != b}
    return lines, inserted


def check_line_edits(before: dict, after: dict) -> None:
    """Each changed line is the old one with a '#' added, or with its value replaced (keyword, '=' and comment kept)."""
    for path, text in after.items():
        old = before[path].split("\n")
        new, _ = _aligned(old, text.split("\n"))
        for a, b in zip(old, new):
            if a == b or b.replace("#", "", 1) == a:
                continue
            da, db = parse_directive(a), parse_directive(b)
            assert da.name == db.name == "permitrootlogin" and a[: da.spans[0][0]] == b[: db.spans[0][0]], (a, b)
            assert a[da.spans[0][1]:] == b[db.spans[0][1]:], (a, b)


def check_other_connections(files: dict, result: dict, out: dict, wanted: str, values_before, values_after) -> None:
    """The planner's guarantee for connections other than the one planned for."""
    lines, inserted = touched(files, out)
    for conn in OTHERS:
        source = resolve(from_files(files), "PermitRootLogin", conn)
        key = (source.directive.path, source.directive.number) if isinstance(source, Setting) else None
        if key is None and inserted or key in lines:
            if key is None or parse_directive(result[key[0]].split("\n")[key[1] - 1]) is not None:
                assert values_after(conn) == wanted, (conn, source.describe())
        else:
            assert values_after(conn) == values_before(conn), (conn, source.describe())


@settings(max_examples=300, deadline=None)
@given(configurations(), st.sampled_from(["prohibit-password", "yes"]))
def test_property_plan_makes_the_value_effective_keeps_the_rest_and_is_idempotent(files, wanted):
    config = from_files(files)
    try:
        out = plan_effective(config, "PermitRootLogin", wanted, ROOT, ["PermitRootLogin forced-commands-only"])
    except EditError as error:
        assert "\n" not in str(error) and "/etc/ssh/" in str(error)
        return
    result = {**files, **out}
    assert all(files[path] != text for path, text in out.items())
    assert effective(from_files(result), "PermitRootLogin", ROOT) == wanted
    assert plan_effective(from_files(result), "PermitRootLogin", wanted, ROOT, ["PermitRootLogin forced-commands-only"]) == {}
    check_line_edits(files, out)
    check_other_connections(files, result, out, wanted,
                            lambda c: effective(config, "PermitRootLogin", c),
                            lambda c: effective(from_files(result), "PermitRootLogin", c))


def test_plan_refuses_comment_out_of_include_or_match():
    with pytest.raises(EditError):
        plan({MAIN: DEBIAN_MAIN}, comment_out=["Include /etc/ssh/sshd_config.d/*.conf"])


def test_revert_restores_planned_files_only_and_refuses_foreign_edits():
    from fabfile.edit.sshd import revert

    files = {MAIN: DEBIAN_MAIN, DROPIN: "PermitRootLogin no\n"}
    applied = plan(files, "yes")
    before = {path: files[path] for path in applied}
    assert revert(before, applied, {**files, **applied}) == {DROPIN: "PermitRootLogin no\n"}
    assert revert(before, applied, files) == {}  # already back: nothing to do
    with pytest.raises(EditError, match=DROPIN):
        revert(before, applied, {**files, DROPIN: "PermitRootLogin yes\nX11Forwarding no\n"})


def test_parse_sshd_t():
    from fabfile.edit.sshd import canonical, parse_sshd_t

    values = parse_sshd_t("port 22\npermitrootlogin without-password\nsubsystem sftp /usr/lib/openssh/sftp-server\n")
    assert canonical("PermitRootLogin", values["permitrootlogin"]) == "prohibit-password" and values["port"] == "22"
