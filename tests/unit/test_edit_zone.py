"""Zone editor: $TTL, SOA serial found in any layout, RFC 1982-safe bumps."""

import datetime

import pytest
from hypothesis import given, settings, strategies as st

from fabfile.edit import EditError
from fabfile.edit.zone import SerialError, bump_serial, find_serial, get_ttl, next_serial, serial_greater, set_ttl

TODAY = datetime.date(2009, 10, 23)

MULTILINE = """$TTL 3600 ; default
$ORIGIN localhost.
@       IN      SOA     localhost. root.localhost.  (
                        2009102201      ; Serial (contains 1234 in a comment)
                        3600            ; Refresh
                        900             ; Retry
                        3600000         ; Expire
                        3600 )          ; Minimum
        IN      NS      localhost.
        IN      A       127.0.0.1
"""

ONE_LINE = "$TTL 3600\n@ IN SOA ns.example. hostmaster.example. 42 3600 900 604800 86400\n@ IN NS ns.example.\n"


def test_set_ttl_keeps_comment():
    out = set_ttl(MULTILINE, 300)
    assert out.splitlines()[0] == "$TTL 300 ; default"
    assert out.splitlines()[1:] == MULTILINE.splitlines()[1:]


def test_set_ttl_plain():
    assert set_ttl("$TTL 3600\n", 300) == "$TTL 300\n"


def test_set_ttl_unit_suffix_value():
    assert set_ttl("$TTL 1h\n", 300) == "$TTL 300\n"


def test_set_ttl_comment_without_space():
    assert set_ttl("$TTL\t3600;hour\n", 300) == "$TTL\t300;hour\n"


def test_set_ttl_missing_inserts_at_top():
    assert set_ttl(ONE_LINE[len("$TTL 3600\n"):], 300).startswith("$TTL 300\n@ IN SOA")


def test_set_ttl_same_value_unchanged():
    assert set_ttl("$TTL 300 ; x\n", 300) == "$TTL 300 ; x\n"


@pytest.mark.parametrize("ttl", [-1, 2**31, "300", True, 1.5])
def test_set_ttl_refuses_bad_ttl(ttl):
    with pytest.raises(EditError):
        set_ttl("$TTL 3600\n", ttl)


def test_get_ttl():
    assert get_ttl(MULTILINE) == "3600"
    assert get_ttl("@ IN A 1.2.3.4\n") is None


def test_find_serial_multiline_with_comments():
    assert find_serial(MULTILINE) == 2009102201


def test_find_serial_one_line():
    assert find_serial(ONE_LINE) == 42


def test_find_serial_parenthesis_on_serial_line():
    text = "@ 3600 IN SOA ns. root. (2009102301 ; serial\n 1 2 3 4 )\n"
    assert find_serial(text) == 2009102301


def test_find_serial_comment_before_soa_mentions_soa():
    text = "; the SOA 1 2 3 is below\n@ IN SOA ns. root. ( ; start\n ; a comment line\n 7 1 2 3 4 )\n"
    assert find_serial(text) == 7


def test_find_serial_names_spread_over_lines():
    text = "@ IN SOA (\n ns.example.\n root.example.\n 99 1 2 3 4 )\n"
    assert find_serial(text) == 99


def test_find_serial_lowercase_soa():
    assert find_serial("@ in soa ns. root. 5 1 2 3 4\n") == 5


def test_find_serial_owner_named_soa_is_not_the_record():
    text = "soa IN A 10.0.0.1\n@ IN SOA ns. root. 8 1 2 3 4\n"
    assert find_serial(text) == 8


def test_find_serial_no_soa():
    with pytest.raises(SerialError, match="no SOA"):
        find_serial("@ IN NS ns.\n")


def test_find_serial_truncated_soa():
    with pytest.raises(SerialError, match="ends before"):
        find_serial("@ IN SOA ns. root.\n")


def test_find_serial_not_numeric():
    with pytest.raises(SerialError, match="not a plain number"):
        find_serial("@ IN SOA ns. root. 12x 1 2 3 4\n")


def test_find_serial_too_large():
    with pytest.raises(SerialError, match="larger"):
        find_serial("@ IN SOA ns. root. 4294967296 1 2 3 4\n")


def test_next_serial_date_older_than_today_becomes_today_00():
    assert next_serial(2009102201, TODAY) == 2009102300


def test_next_serial_date_already_today_increments():
    assert next_serial(2009102300, TODAY) == 2009102301
    assert next_serial(2009102307, TODAY) == 2009102308


def test_next_serial_date_in_future_increments():
    assert next_serial(2010010105, TODAY) == 2010010106


def test_next_serial_date_nn_99_rolls_into_next_day_value():
    assert next_serial(2009102399, TODAY) == 2009102400


def test_next_serial_non_date_increments():
    assert next_serial(42, TODAY) == 43
    assert next_serial(2009133101, TODAY) == 2009133102  # month 13: not a date


def test_next_serial_refuses_past_maximum():
    with pytest.raises(SerialError, match="RFC 1982"):
        next_serial(2**32 - 1, TODAY)


def test_next_serial_refuses_jump_of_half_the_space():
    # a date-like serial from year 1000 and a "today" far ahead: jump >= 2**31
    with pytest.raises(SerialError, match="RFC 1982"):
        next_serial(1000010100, datetime.date(4000, 1, 1))


def test_next_serial_refuses_out_of_range_input():
    with pytest.raises(SerialError):
        next_serial(-1, TODAY)


def test_serial_greater_rfc1982():
    assert serial_greater(1, 0)
    assert serial_greater(0, 2**32 - 1)  # wraps forward
    assert not serial_greater(2**31, 0)
    assert not serial_greater(5, 5)


def test_bump_serial_rewrites_only_the_digits():
    out = bump_serial(MULTILINE, TODAY)
    assert out == MULTILINE.replace("2009102201", "2009102300")


def test_bump_serial_one_line():
    assert bump_serial(ONE_LINE, TODAY) == ONE_LINE.replace(" 42 ", " 43 ")


def test_bump_serial_after_set_ttl():
    out = bump_serial(set_ttl(MULTILINE, 300), TODAY)
    assert find_serial(out) == 2009102300 and get_ttl(out) == "300"


# ---- properties ------------------------------------------------------------

_comment = st.text(alphabet="abc 0123456789()SOA;", max_size=20).map(lambda s: " ;" + s)
_record = st.sampled_from(["@ IN NS ns.", "www IN A 10.0.0.1", "  IN MX 10 mail.", "; only a comment 123", ""])


@settings(max_examples=150, deadline=None)
@given(st.lists(_record, max_size=6), st.lists(_record, max_size=6), st.integers(1, 3), _comment, st.integers(0, 2**32 - 2))
def test_property_bump_changes_only_serial(before, after, layout, comment, serial):
    head, tail = {
        1: ("@ IN SOA ns. root. ", f" 1 2 3 4{comment}"),
        2: (f"@ IN SOA ns. root. ({comment}\n  ", f"{comment}\n  1 2 3 4 ){comment}"),
        3: (f"@ IN SOA ns. (\n root.{comment}\n ", " 1\n 2 3 4\n)"),
    }[layout]
    prefix = "\n".join(["$TTL 3600" + comment] + before + [head])
    suffix = "\n".join([tail] + after) + "\n"
    text = prefix + str(serial) + suffix
    assert find_serial(text) == serial
    out = bump_serial(text, TODAY)
    new = next_serial(serial, TODAY)
    assert serial_greater(new, serial)
    assert out == prefix + str(new) + suffix


@settings(max_examples=150, deadline=None)
@given(st.lists(_record, max_size=8), _comment, st.integers(0, 2**31 - 1))
def test_property_set_ttl_idempotent_and_local(records, comment, ttl):
    text = "\n".join(["$TTL 3600" + comment] + records) + "\n"
    once = set_ttl(text, ttl)
    assert set_ttl(once, ttl) == once
    assert once.split("\n")[1:] == text.split("\n")[1:]
    assert once.split("\n")[0] == f"$TTL {ttl}{comment}"


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 2), st.dates(min_value=datetime.date(1990, 1, 1), max_value=datetime.date(2099, 12, 31)))
def test_property_next_serial_always_greater(old, today):
    try:
        new = next_serial(old, today)
    except SerialError:
        return
    assert serial_greater(new, old) and new <= 2**32 - 1
