"""authorized_keys: prefix the key's line by blob, no double prefix."""

import base64
import struct

import pytest
from hypothesis import given, settings, strategies as st

from fabfile.edit import EditError
from fabfile.edit.authkeys import KeyNotFound, fingerprint, parse_key_line, restrict_key, split_options

OPTIONS = (
    'command="rsync --server -vlogDtpr --delete . /home/",no-pty,'
    'from="ika-itpass.scitec.kobe-u.ac.jp",no-port-forwarding,no-X11-forwarding,no-agent-forwarding'
)


def blob(seed: bytes, key_type=b"ssh-ed25519") -> str:
    raw = struct.pack(">I", len(key_type)) + key_type + struct.pack(">I", 32) + (seed * 32)[:32]
    return base64.b64encode(raw).decode()


NEW_KEY = f"ssh-ed25519 {blob(b'new')} root@ika"
OTHER = f"ssh-ed25519 {blob(b'other')} admin@laptop"
RSA = f"ssh-rsa {blob(b'rsa', b'ssh-rsa')} backup"
FILE = f"# root's keys\n{OTHER}\n\n{NEW_KEY}\n{RSA}\n"


def test_restrict_key_prefixes_matching_line():
    out = restrict_key(FILE, NEW_KEY, OPTIONS)
    assert out == FILE.replace(f"\n{NEW_KEY}\n", f"\n{OPTIONS} {NEW_KEY}\n")


def test_restrict_key_matches_by_blob_not_comment():
    renamed = f"ssh-ed25519 {blob(b'new')} someone-else"
    out = restrict_key(f"{renamed}\n", NEW_KEY, OPTIONS)
    assert out == f"{OPTIONS} {renamed}\n"


def test_restrict_key_already_prefixed_is_unchanged():
    text = f"{OTHER}\n{OPTIONS} {NEW_KEY}\n"
    assert restrict_key(text, NEW_KEY, OPTIONS) == text


def test_restrict_key_replaces_other_options():
    text = f'from="10.0.0.1",no-pty {NEW_KEY}\n'
    assert restrict_key(text, NEW_KEY, OPTIONS) == f"{OPTIONS} {NEW_KEY}\n"


def test_restrict_key_existing_option_with_quoted_comma_and_space():
    text = f'command="echo a, b c",environment="X=1" {NEW_KEY}\n'
    assert restrict_key(text, NEW_KEY, "restrict") == f"restrict {NEW_KEY}\n"


def test_restrict_key_keeps_indentation_and_crlf():
    text = f"  {NEW_KEY}\r\n"
    assert restrict_key(text, NEW_KEY, "no-pty") == f"  no-pty {NEW_KEY}\r\n"


def test_restrict_key_all_duplicate_lines():
    text = f"{NEW_KEY}\n{OTHER}\n{NEW_KEY} copy\n"
    out = restrict_key(text, NEW_KEY, "no-pty")
    assert out == f"no-pty {NEW_KEY}\n{OTHER}\nno-pty {NEW_KEY} copy\n"


def test_restrict_key_public_key_line_with_trailing_newline():
    assert restrict_key(FILE, NEW_KEY + "\n", OPTIONS) == restrict_key(FILE, NEW_KEY, OPTIONS)


def test_key_not_found_names_type_and_comment_not_blob():
    with pytest.raises(KeyNotFound) as error:
        restrict_key(f"{OTHER}\n", NEW_KEY, OPTIONS)
    message = str(error.value)
    assert "ssh-ed25519" in message and "root@ika" in message and "SHA256:" in message
    assert blob(b"new") not in message


def test_restrict_key_refuses_non_key_line():
    with pytest.raises(EditError):
        restrict_key(FILE, "not a key", OPTIONS)


@pytest.mark.parametrize("options", ['command="open', "no-pty, no-agent-forwarding", "no-pty,,x", ""])
def test_restrict_key_refuses_bad_options(options):
    with pytest.raises(EditError):
        restrict_key(FILE, NEW_KEY, options)


def test_split_options_respects_double_quotes_with_commas_and_spaces():
    assert split_options('command="a, b c",no-pty,from="x,y"') == ['command="a, b c"', "no-pty", 'from="x,y"']


def test_split_options_escaped_quote():
    assert split_options(r'command="echo \"a,b\"",no-pty') == [r'command="echo \"a,b\""', "no-pty"]


def test_parse_key_line_without_options():
    key = parse_key_line(NEW_KEY)
    assert (key.options, key.key_type, key.comment) == (None, "ssh-ed25519", "root@ika")


def test_parse_key_line_with_options_and_comment_spaces():
    key = parse_key_line(f'command="x y",no-pty ecdsa-sha2-nistp256 {blob(b"e")} my laptop key')
    assert key.options == 'command="x y",no-pty' and key.comment == "my laptop key"


def test_parse_key_line_comment_and_blank():
    assert parse_key_line("# ssh-ed25519 AAAA") is None and parse_key_line("   ") is None


def test_fingerprint_matches_ssh_keygen_format():
    assert fingerprint(blob(b"new")).startswith("SHA256:") and "=" not in fingerprint(blob(b"new"))
    assert fingerprint("!!!") == "an undecodable key"


# ---- properties ------------------------------------------------------------

_seed = st.binary(min_size=1, max_size=8)
_comment = st.text(alphabet="abcxyz@.- ", max_size=15)
_option = st.sampled_from(["no-pty", "restrict", 'from="10.0.0.1,10.0.0.2"', 'command="echo a, b"', "no-agent-forwarding"])
_other_line = st.one_of(
    st.builds(lambda s, c: f"ssh-ed25519 {blob(b'x' + s)} {c}".rstrip(), _seed, _comment),
    st.builds(lambda o, s: f"{o} ssh-rsa {blob(b'y' + s, b'ssh-rsa')}", _option, _seed),
    st.sampled_from(["# comment", "", "  # indented comment"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_other_line, max_size=6), st.lists(_other_line, max_size=6), st.lists(_option, min_size=1, max_size=3), st.one_of(st.none(), _option))
def test_property_restrict_idempotent_and_local(before, after, options, existing):
    options_text = ",".join(options)
    target = NEW_KEY if existing is None else f"{existing} {NEW_KEY}"
    text = "\n".join(before + [target] + after) + "\n"
    once = restrict_key(text, NEW_KEY, options_text)
    assert restrict_key(once, NEW_KEY, options_text) == once
    lines = once.split("\n")
    assert lines[: len(before)] == before
    assert lines[len(before)] == f"{options_text} {NEW_KEY}"
    assert lines[len(before) + 1 :] == after + [""]
