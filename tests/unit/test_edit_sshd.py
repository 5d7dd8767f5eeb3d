"""sshd_config editor: first global match wins, Match blocks untouched."""

import pytest
from hypothesis import given, settings, strategies as st

from fabfile.edit import EditError
from fabfile.edit.sshd import comment_out, get_option, set_option, uncomment

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


def test_set_option_with_equals_form():
    assert set_option("PermitRootLogin=no\n", "PermitRootLogin", "yes") == "PermitRootLogin yes\n"


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
