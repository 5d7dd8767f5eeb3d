"""Exact-content list files: qmail locals/rcpthosts, the ezmlm bouncer."""

import pytest
from hypothesis import given, settings, strategies as st

from fabfile.edit import EditError
from fabfile.edit.listfile import exact, missing_and_extra, render_lines

BOUNCER = [
    "&itpadmin@itpass.scitec.kobe-u.ac.jp",
    "|/usr/local/ezmlm/bin/ezmlm-weed",
    "|/usr/local/ezmlm/bin/ezmlm-return -D '/home/itpass/ml/ml-ctrl'",
]


def test_render_lines_one_per_line_with_final_newline():
    assert render_lines(["localhost", "itpass.scitec.kobe-u.ac.jp"]) == "localhost\nitpass.scitec.kobe-u.ac.jp\n"


def test_render_lines_empty_list_is_empty_file():
    assert render_lines([]) == ""


def test_render_lines_refuses_embedded_newline():
    with pytest.raises(EditError):
        render_lines(["a\nb"])


def test_exact_already_exact_text_is_identical():
    text = render_lines(BOUNCER)
    assert exact(BOUNCER)(text) == text


def test_exact_missing_final_newline_is_a_change():
    text = render_lines(BOUNCER).rstrip("\n")
    assert exact(BOUNCER)(text) != text
    assert exact(BOUNCER)(text) == render_lines(BOUNCER)


def test_exact_replaces_wrong_content():
    assert exact(["localhost"])("localhost\nold.scitec.kobe-u.ac.jp\n") == "localhost\n"


def test_missing_and_extra():
    assert missing_and_extra("localhost\nold\n", ["localhost", "itpass"]) == (["itpass"], ["old"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="abc.-@|/ '", max_size=20), max_size=6), st.text(max_size=40))
def test_property_exact_idempotent(lines, text):
    transform = exact(lines)
    assert transform(transform(text)) == transform(text)
