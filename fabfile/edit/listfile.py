"""Files whose whole content is a fixed list of lines (runbook D4, N1, N2).

qmail's ``locals`` and ``rcpthosts`` and the ezmlm ``bouncer`` must hold
exactly the configured lines: the transform ignores what is there and
renders the list, so a correct file comes back identical (no write) and
anything else, even a missing final newline, is a change.
"""

from __future__ import annotations

from typing import Callable, Iterable

from . import EditError


def render_lines(lines: Iterable[str]) -> str:
    """One entry per line, each terminated by a newline."""
    lines = list(lines)
    for line in lines:
        if "\n" in line or "\r" in line:
            raise EditError("a list-file entry must be a single line")
    return "".join(line + "\n" for line in lines)


def exact(lines: Iterable[str]) -> Callable[[str], str]:
    """A transform (text -> text) that makes a file hold exactly `lines`."""
    wanted = render_lines(lines)

    def transform(_text: str) -> str:
        return wanted

    transform.__doc__ = f"replace the content with {len(wanted.splitlines())} fixed line(s)"
    return transform


def missing_and_extra(text: str, lines: Iterable[str]) -> tuple[list[str], list[str]]:
    """What a check reports: wanted lines absent, present lines unwanted."""
    wanted = list(lines)
    present = text.split("\n")
    if present and present[-1] == "":
        present.pop()
    return [line for line in wanted if line not in present], [line for line in present if line not in wanted]
