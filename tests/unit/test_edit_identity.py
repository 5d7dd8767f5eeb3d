"""Identity swap: one pass, whole tokens, longest key first."""

import pytest
from hypothesis import given, settings, strategies as st

from fabfile.edit import EditError
from fabfile.edit.identity import find_leftovers, identity_mapping, swap_tokens

OLD_BEFORE = {"hostname": "itpass", "fqdn": "itpass.scitec.kobe-u.ac.jp", "ip": "133.30.109.22"}
OLD_AFTER = {"hostname": "old-itpass", "fqdn": "old-itpass.scitec.kobe-u.ac.jp", "ip": "133.30.109.21"}
NEW_BEFORE = {"hostname": "ika-itpass", "fqdn": "ika-itpass.scitec.kobe-u.ac.jp", "ip": "133.30.109.21"}
NEW_AFTER = {"hostname": "itpass", "fqdn": "itpass.scitec.kobe-u.ac.jp", "ip": "133.30.109.22"}
SEED_MAPPING = identity_mapping(OLD_BEFORE, OLD_AFTER, NEW_BEFORE, NEW_AFTER)


def test_identity_mapping_seed():
    assert SEED_MAPPING == {
        "itpass": "old-itpass",
        "itpass.scitec.kobe-u.ac.jp": "old-itpass.scitec.kobe-u.ac.jp",
        "133.30.109.22": "133.30.109.21",
        "ika-itpass": "itpass",
        "ika-itpass.scitec.kobe-u.ac.jp": "itpass.scitec.kobe-u.ac.jp",
        "133.30.109.21": "133.30.109.22",
    }


def test_identity_mapping_skips_missing_and_unchanged_keys():
    assert identity_mapping({"hostname": "a"}, {"hostname": "a", "ip": "1.2.3.4"}, {"fqdn": "b.x"}, {"fqdn": "c.x"}) == {"b.x": "c.x"}


def test_identity_mapping_refuses_contradiction():
    with pytest.raises(EditError, match="both"):
        identity_mapping({"hostname": "a"}, {"hostname": "b"}, {"hostname": "a"}, {"hostname": "c"})


def test_swap_hosts_file_of_the_seed():
    hosts = (
        "127.0.0.1 localhost\n"
        "133.30.109.22 itpass.scitec.kobe-u.ac.jp itpass\n"
        "133.30.109.21 ika-itpass.scitec.kobe-u.ac.jp ika-itpass new-itpass\n"
    )
    assert swap_tokens(hosts, SEED_MAPPING) == (
        "127.0.0.1 localhost\n"
        "133.30.109.21 old-itpass.scitec.kobe-u.ac.jp old-itpass\n"
        "133.30.109.22 itpass.scitec.kobe-u.ac.jp itpass new-itpass\n"
    )


def test_simultaneous_swap_does_not_merge():
    assert swap_tokens("a b a b", {"a": "b", "b": "a"}) == "b a b a"


def test_ika_does_not_touch_ikax_or_ika_itpass():
    text = "ika ikaX ika-itpass xika ika.local ika_1"
    assert swap_tokens(text, {"ika": "tako"}) == "tako ikaX ika-itpass xika tako.local tako_1"


def test_name_inside_fqdn_is_a_token_but_fqdn_wins_longest_first():
    mapping = {"itpass": "old-itpass", "itpass.scitec.kobe-u.ac.jp": "www.example.org"}
    assert swap_tokens("itpass.scitec.kobe-u.ac.jp itpass.other", mapping) == "www.example.org old-itpass.other"


def test_ip_prefix_2_does_not_touch_22():
    text = "133.30.109.2 133.30.109.22 133.30.109.2/24 1133.30.109.2 133.30.109.2.5"
    assert swap_tokens(text, {"133.30.109.2": "10.0.0.1"}) == "10.0.0.1 133.30.109.22 10.0.0.1/24 1133.30.109.2 133.30.109.2.5"


def test_ip_in_reverse_zone_context():
    assert swap_tokens("address 133.30.109.21\n", {"133.30.109.21": "133.30.109.22"}) == "address 133.30.109.22\n"


def test_swap_with_regex_characters_in_key():
    assert swap_tokens("a+b a.b", {"a.b": "c"}) == "a+b c"


def test_swap_empty_mapping_returns_text():
    assert swap_tokens("x", {}) == "x"


def test_swap_refuses_empty_key():
    with pytest.raises(EditError):
        swap_tokens("x", {"": "y"})


def test_find_leftovers_like_grep_w():
    text = "ika\nikaX\nika-itpass\nhost tako here\nnothing\n"
    assert find_leftovers(text, ["ika", "tako"]) == [(1, "ika"), (3, "ika-itpass"), (4, "host tako here")]


def test_find_leftovers_none():
    assert find_leftovers("itpass\n", ["ika"]) == [] and find_leftovers("ika\n", []) == []


# ---- properties ------------------------------------------------------------

_name = st.text(alphabet="abcik0-", min_size=1, max_size=6).filter(lambda s: not s.startswith("-") and not s.endswith("-"))
_ip = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))


def _text_from(pieces):
    return st.lists(st.one_of(st.sampled_from(pieces), st.sampled_from([" ", ".", "\n", "-", "X", "1", ":", "/"])), max_size=25).map("".join)


@settings(max_examples=200, deadline=None)
@given(st.data(), _name, _name)
def test_property_name_swap_twice_is_identity(data, a, b):
    if a == b:
        return
    text = data.draw(_text_from([a, b, a + "X", a + "-" + b, b + "." + a]))
    mapping = {a: b, b: a}
    assert swap_tokens(swap_tokens(text, mapping), mapping) == text


@settings(max_examples=200, deadline=None)
@given(st.data(), _ip, _ip)
def test_property_ip_swap_twice_is_identity(data, a, b):
    if a == b:
        return
    text = data.draw(_text_from([a, b, a + "1", "1" + b, a + ".7", b + "/24"]))
    mapping = {a: b, b: a}
    assert swap_tokens(swap_tokens(text, mapping), mapping) == text


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["localhost", "127.0.0.1", "ikaX", "other.host", "10.0.0.1", "# comment"]), max_size=10))
def test_property_unrelated_lines_untouched(words):
    text = "\n".join(words) + "\n"
    assert swap_tokens(text, SEED_MAPPING) == text
