"""authorized_keys: the key's line gets the required options merged in, by blob, as sshd parses options.

tests/unit/test_real_authkeys.py runs the merged lines through a real sshd.
"""

import base64
import struct

import pytest
from hypothesis import given, settings, strategies as st

from fabfile.edit import EditError
from fabfile.edit.authkeys import (
    KeyNotFound, fingerprint, merge_options, parse_key_line, parse_options, restrict_key, split_options,
)

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


def test_restrict_key_refuses_a_different_from():
    # was: the existing options were replaced, dropping from="10.0.0.1" (issue 12: never drop a restriction)
    text = f'from="10.0.0.1",no-pty {NEW_KEY}\n'
    with pytest.raises(EditError, match='line 1: the key already has from="10.0.0.1"'):
        restrict_key(text, NEW_KEY, OPTIONS)


def test_restrict_key_existing_option_with_quoted_comma_and_space_is_kept():
    # was: replaced by "restrict" alone, dropping the forced command
    text = f'command="echo a, b c",environment="X=1" {NEW_KEY}\n'
    assert restrict_key(text, NEW_KEY, "restrict") == f'command="echo a, b c",environment="X=1",restrict {NEW_KEY}\n'


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
    key = parse_key_line(f'command="x y",no-pty ecdsa-sha2-nistp256 {blob(b"e", b"ecdsa-sha2-nistp256")} my laptop key')
    assert key.options == 'command="x y",no-pty' and key.comment == "my laptop key"


def test_parse_key_line_comment_and_blank():
    assert parse_key_line("# ssh-ed25519 AAAA") is None and parse_key_line("   ") is None


def test_fingerprint_matches_ssh_keygen_format():
    assert fingerprint(blob(b"new")).startswith("SHA256:") and "=" not in fingerprint(blob(b"new"))
    assert fingerprint("!!!") == "an undecodable key"



# ---- options as sshd's auth-options.c reads them -------------------------------------------


def test_parse_options_flags_values_and_negation():
    options = parse_options('No-PTY,restrict,command="echo \\"a,b\\" c",from="10.0.0.0/8,!10.0.0.1",expiry-time="20991231"')
    assert [(o.name, o.negated, o.value) for o in options] == [
        ("pty", True, None), ("restrict", False, None), ("command", False, 'echo "a,b" c'),
        ("from", False, "10.0.0.0/8,!10.0.0.1"), ("expiry-time", False, "20991231")]


@pytest.mark.parametrize("options, reason", [
    ("no-ptyx", "unknown key option"), ("bogus", "unknown key option"), ("no-pty,", "unexpected end-of-options"),
    ('command="a",command="b"', 'multiple "command" clauses'), ('from="a",from="b"', 'multiple "from" clauses'),
    ("command=echo", "missing start quote"), ('command="a\\\\",no-pty', "missing end quote"),
    ('expiry-time="2099"', "invalid expires time"), ('environment="1 X"', "invalid environment string"),
    ('permitopen="host"', "invalid permission"), ('tunnel="x"', "invalid tun device"), ("no-restrict", "unknown key option"),
])
def test_parse_options_refuses_what_sshd_refuses(options, reason):
    # sshd's opt_dequote knows only \" as an escape: "a\\" is a, backslash, then an escaped quote
    with pytest.raises(EditError, match=reason):
        parse_options(options)


def test_parse_options_several_permitopen_and_expiry_are_allowed():
    text = 'permitopen="a:1",permitopen="[::1]:2",permitlisten="8080",expiry-time="20991231",expiry-time="209912312359"'
    assert len(parse_options(text)) == 5


# ---- key lines as sshd finds the key ---------------------------------------------------------

SK = f"sk-ssh-ed25519@openssh.com {blob(b'sk', b'sk-ssh-ed25519@openssh.com')} yubikey"
SK_ECDSA = f"sk-ecdsa-sha2-nistp256@openssh.com {blob(b'ske', b'sk-ecdsa-sha2-nistp256@openssh.com')}"
CERT = f"ssh-ed25519-cert-v01@openssh.com {blob(b'new', b'ssh-ed25519-cert-v01@openssh.com')} cert"


@pytest.mark.parametrize("line", [SK, SK_ECDSA, CERT, f"rsa-sha2-256 {blob(b'rsa', b'ssh-rsa')}",
                                  f"ED25519 {blob(b'new')} short name"])
def test_parse_key_line_key_types(line):
    key = parse_key_line(line)
    assert key is not None and key.options is None


@pytest.mark.parametrize("line", [
    f"ssh-rsa {blob(b'new')} blob of another type", "ssh-ed25519 !!!notbase64", f'command="open {NEW_KEY}',
    f"no-pty  {NEW_KEY.replace('ssh-ed25519', 'ssh-ed448')}",
])
def test_parse_key_line_lines_sshd_reads_no_key_from(line):
    assert parse_key_line(line) is None


def test_parse_key_line_escaped_quote_in_options():
    key = parse_key_line(f'command="echo \\" x",no-pty {NEW_KEY}')
    assert key.options == 'command="echo \\" x",no-pty' and key.comment == "root@ika"


def test_restrict_key_sk_key():
    assert restrict_key(f"{SK}\n", SK, "no-pty,verify-required") == f"no-pty,verify-required {SK}\n"


def test_certificate_line_is_not_the_key():
    text = f"{CERT}\n{NEW_KEY}\n"
    assert restrict_key(text, NEW_KEY, "no-pty") == f"{CERT}\nno-pty {NEW_KEY}\n"


def test_certificate_as_the_key_to_restrict_is_refused():
    with pytest.raises(EditError, match="certificate"):
        restrict_key(f"{CERT}\n", CERT, "no-pty")


def test_cert_authority_line_for_the_key_is_refused():
    with pytest.raises(EditError) as error:
        restrict_key(f'cert-authority,principals="root" {NEW_KEY}\n', NEW_KEY, OPTIONS)
    message = str(error.value)
    assert "line 1" in message and "cert-authority" in message and "\n" not in message and blob(b"new") not in message


def test_line_with_options_sshd_rejects_is_refused():
    with pytest.raises(EditError, match="sshd rejects this line's options"):
        restrict_key(f"no-ptyx {NEW_KEY}\n", NEW_KEY, OPTIONS)


# ---- merging: never a restriction less ---------------------------------------------------------


@pytest.mark.parametrize("existing", [
    'expiry-time="20991231"', "restrict", 'from="ika-itpass.scitec.kobe-u.ac.jp"', "no-user-rc",
    'permitopen="127.0.0.1:873"', 'permitlisten="8080"', 'environment="LANG=C"', 'principals="root"', 'tunnel="0"',
    "no-touch-required", "verify-required", 'FROM="IKA-itpass.scitec.kobe-u.ac.jp"',
])
def test_merge_keeps_every_existing_restriction_verbatim_and_first(existing):
    merged = merge_options(existing, OPTIONS)
    assert merged.startswith(existing + ",") or merged == existing
    result, mine, theirs = allows(merged), allows(existing), allows(OPTIONS)
    assert all(result[name] <= mine[name] and result[name] <= theirs[name] for name in result if name != "touch-waived")
    values = {(o.name, o.value) for o in parse_options(merged) if o.value is not None}
    assert {(o.name, o.value.lower()) for o in parse_options(OPTIONS) if o.value} <= {(n, v.lower()) for n, v in values}


def test_merge_without_existing_options_is_the_required_text():
    assert merge_options(None, OPTIONS) == OPTIONS


def test_merge_skips_what_the_line_already_restricts():
    assert merge_options("restrict", OPTIONS) == (
        'restrict,command="rsync --server -vlogDtpr --delete . /home/",from="ika-itpass.scitec.kobe-u.ac.jp"')


def test_merge_re_restricts_what_the_line_re_enabled():
    assert merge_options("restrict,pty,port-forwarding", "no-pty") == "restrict,pty,port-forwarding,no-pty"


def test_merge_permissive_required_option_does_not_loosen():
    assert merge_options("no-pty", "restrict,pty") == "no-pty,restrict"
    assert merge_options("touch-required", "no-touch-required") == "touch-required"
    assert merge_options(None, "restrict,pty") == "restrict,pty"


def test_merge_same_from_in_another_order_is_kept():
    assert merge_options('from="b,a",no-pty', 'from="a,b",no-pty') == 'from="b,a",no-pty'


@pytest.mark.parametrize("existing, required", [
    ('command="/bin/true"', 'command="/bin/false"'), ('from="a"', 'from="b"'), ('principals="x"', 'principals="y"'),
    ('environment="A=1"', 'environment="A=2"'), ('permitopen="a:1"', 'permitopen="b:2"'), ('tunnel="0"', 'tunnel="1"'),
])
def test_merge_refuses_conflicting_values(existing, required):
    with pytest.raises(EditError) as error:
        merge_options(existing, required, "authorized_keys line 7")
    assert str(error.value).startswith("authorized_keys line 7: ") and "\n" not in str(error.value)


def test_merge_expiry_keeps_both_so_sshd_takes_the_earlier():
    assert merge_options('expiry-time="20991231"', 'expiry-time="20300101"') == 'expiry-time="20991231",expiry-time="20300101"'


# ---- properties on the options grammar ----------------------------------------------------------------

FLAG_OPTIONS = ["restrict", "no-pty", "pty", "no-port-forwarding", "port-forwarding", "no-agent-forwarding", "agent-forwarding",
                "no-X11-forwarding", "x11-forwarding", "no-user-rc", "user-rc", "no-touch-required", "touch-required",
                "verify-required"]
VALUED = {"command": ['command="rsync --server -vlogDtpr . /home/"', 'command="echo \\"a, b\\""'],
          "from": ['from="10.0.0.1,10.0.0.2"', 'from="*.example.jp"'], "expiry-time": ['expiry-time="20991231"'],
          "environment": ['environment="LANG=C"'], "permitopen": ['permitopen="localhost:873"'], "tunnel": ['tunnel="0"']}


@st.composite
def option_sets(draw):
    """A valid options field: flags in any order, at most one value per single-valued option."""
    flags = draw(st.lists(st.sampled_from(FLAG_OPTIONS), max_size=4))
    names = draw(st.lists(st.sampled_from(sorted(VALUED)), unique=True, max_size=3))
    valued = [draw(st.sampled_from(VALUED[name])) for name in names]
    return ",".join(draw(st.permutations(flags + valued)))


def allows(options: str | None) -> dict:
    """What sshd lets a key with these options do, by the flags (later option wins, as sshd parses)."""
    from fabfile.edit.authkeys import _state

    return _state(parse_options(options) if options else [])[0]


_seed = st.binary(min_size=1, max_size=8)
_comment = st.text(alphabet="abcxyz@.- ", max_size=15)
_other_line = st.one_of(
    st.builds(lambda s, c: f"ssh-ed25519 {blob(b'x' + s)} {c}".rstrip(), _seed, _comment),
    st.builds(lambda o, s: f"{o} ssh-rsa {blob(b'y' + s, b'ssh-rsa')}", option_sets().filter(bool), _seed),
    st.sampled_from(["# comment", "", "  # indented comment", f"# {NEW_KEY}"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_other_line, max_size=5), st.lists(_other_line, max_size=5), option_sets().filter(bool), option_sets())
def test_property_merge_narrows_keeps_and_is_idempotent(before, after, required, existing):
    target = f"{existing} {NEW_KEY}" if existing else NEW_KEY
    text = "\n".join(before + [target] + after) + "\n"
    try:
        once = restrict_key(text, NEW_KEY, required)
    except EditError as error:
        assert "\n" not in str(error) and str(error).startswith("authorized_keys line ")
        return
    assert restrict_key(once, NEW_KEY, required) == once
    lines = once.split("\n")
    assert lines[: len(before)] == before and lines[len(before) + 1:] == after + [""]
    merged = parse_key_line(lines[len(before)])
    assert merged.blob == blob(b"new") and merged.comment == "root@ika"
    assert not existing or merged.options.startswith(existing)
    mine, theirs, result = allows(existing or None), allows(required), allows(merged.options)
    for name, value in result.items():
        assert value <= mine[name], name  # nothing the line restricted is lifted
        if name != "touch-waived" or "touch-required" in required.lower():  # only an explicit touch option binds
            assert value <= theirs[name], name  # everything required is in effect
    values = {(o.name, o.value) for o in parse_options(merged.options or "") if o.value is not None}
    assert {(o.name, o.value) for o in parse_options(required) if o.value is not None} <= values
