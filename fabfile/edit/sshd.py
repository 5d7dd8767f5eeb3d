"""sshd_config editing (runbook P1/C1 open root login, P4/C5 restore).

sshd uses the *first* value it reads for a keyword, and everything after
the first ``Match`` line is conditional.  So the editors only read and
write the global part, before any ``Match``; a later duplicate of a
keyword is ignored by sshd and therefore left alone here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import EditError, ensure_final_newline, line_body, split_lines_keepends

# keyword, then "=" or whitespace (sshd accepts both), then the value
_DIRECTIVE = re.compile(r"^(?P<indent>\s*)(?P<keyword>[^\s=#]+)(?:\s*=\s*|\s+|$)(?P<value>.*?)\s*$")


@dataclass(frozen=True)
class Directive:
    """One parsed configuration line: where it is and what it says."""

    index: int
    indent: str
    keyword: str
    value: str


def _parse_directive(index: int, line: str) -> Directive | None:
    """A directive, or None for blank lines and comments."""
    content, _ = line_body(line)
    if not content.strip() or content.lstrip().startswith("#"):
        return None
    match = _DIRECTIVE.match(content)
    if match is None:
        return None
    return Directive(index, match["indent"], match["keyword"], match["value"])


def _global_directives(lines: list[str]) -> tuple[list[Directive], int | None]:
    """Directives before the first Match line, and that line's index."""
    found = []
    for index, line in enumerate(lines):
        directive = _parse_directive(index, line)
        if directive is None:
            continue
        if directive.keyword.lower() == "match":
            return found, index
        found.append(directive)
    return found, None


def _check_keyword(keyword: str) -> None:
    """A keyword with blanks or '=' would silently write a different option."""
    if not keyword or re.search(r"[\s=#]", keyword):
        raise EditError(f"not an sshd_config keyword: {keyword!r}")
    if keyword.lower() == "match":
        raise EditError("Match blocks are not options; edit them by hand")


def _check_value(value: str) -> None:
    if "\n" in value or "\r" in value or not value.strip():
        raise EditError("an sshd_config value must be one non-empty line")


def get_option(text: str, keyword: str) -> str | None:
    """The value sshd will use for keyword from the global part, if set."""
    _check_keyword(keyword)
    directives, _ = _global_directives(split_lines_keepends(text))
    for directive in directives:
        if directive.keyword.lower() == keyword.lower():
            return directive.value
    return None


def set_option(text: str, keyword: str, value: str) -> str:
    """Make sshd use value for keyword, touching as little as possible.

    The first global occurrence is the one sshd obeys, so that line is
    rewritten (indentation and spelling of the keyword kept).  Without
    one, the line goes before the first Match block, because after it the
    option would only apply to that block.
    """
    _check_keyword(keyword)
    _check_value(value)
    value = value.strip()
    lines = split_lines_keepends(text)
    directives, match_index = _global_directives(lines)
    for directive in directives:
        if directive.keyword.lower() == keyword.lower():
            if directive.value == value:
                return text
            _, ending = line_body(lines[directive.index])
            lines[directive.index] = f"{directive.indent}{directive.keyword} {value}{ending or ''}"
            return "".join(lines)
    new_line = f"{keyword} {value}\n"
    if match_index is None:
        return ensure_final_newline(text) + new_line
    lines.insert(match_index, new_line)
    return "".join(lines)


def _same_directive(directive: Directive, wanted: Directive) -> bool:
    """Equal modulo surrounding blanks, '=' vs blank, and keyword case."""
    return (
        directive.keyword.lower() == wanted.keyword.lower()
        and " ".join(directive.value.split()) == " ".join(wanted.value.split())
    )


def _wanted(line: str) -> Directive:
    wanted = _parse_directive(0, line.strip())
    if wanted is None or "\n" in line.strip():
        raise EditError(f"not an sshd_config directive: {line!r}")
    return wanted


def comment_out(text: str, line: str) -> str:
    """Comment out global lines saying `line` (e.g. a forced-commands-only).

    The runbook's P1 removes ``PermitRootLogin forced-commands-only`` so it
    cannot win over the value set by set_option.  A '#' goes right after
    the indentation, so uncomment() can restore the line exactly.
    """
    wanted = _wanted(line)
    lines = split_lines_keepends(text)
    directives, _ = _global_directives(lines)
    for directive in directives:
        if _same_directive(directive, wanted):
            original = lines[directive.index]
            lines[directive.index] = directive.indent + "#" + original[len(directive.indent):]
    return "".join(lines)


def uncomment(text: str, line: str) -> str:
    """Undo comment_out: restore '#'-commented global lines saying `line`.

    Only a single '#' directly before the directive is removed, so ordinary
    prose comments mentioning the option stay as they are.
    """
    wanted = _wanted(line)
    lines = split_lines_keepends(text)
    _, match_index = _global_directives(lines)
    end = len(lines) if match_index is None else match_index
    for index in range(end):
        content, _ = line_body(lines[index])
        stripped = content.lstrip()
        if not stripped.startswith("#") or stripped.startswith("##"):
            continue
        indent = content[: len(content) - len(stripped)]
        candidate = _parse_directive(index, indent + stripped[1:])
        if candidate is not None and _same_directive(candidate, wanted):
            lines[index] = indent + lines[index][len(indent) + 1:]
    return "".join(lines)


# ---- the configuration as sshd reads it: Include, first value wins (interim planner) ----------------

import fnmatch as _fnmatch  # noqa: E402
import posixpath as _posixpath  # noqa: E402

SSH_DIR = "/etc/ssh"
_SYNONYMS = {"without-password": "prohibit-password"}


def normal_value(keyword: str, value: str) -> str:
    """A value as `sshd -T` means it (OpenSSH 9 prints prohibit-password as without-password)."""
    value = value.strip().strip('"').lower()
    return _SYNONYMS.get(value, value) if keyword.lower() == "permitrootlogin" else value


def _include_patterns(text: str) -> list[tuple[int, list[str]]]:
    found = []
    for index, line in enumerate(split_lines_keepends(text)):
        directive = _parse_directive(index, line)
        if directive is None:
            continue
        if directive.keyword.lower() == "match":
            break
        if directive.keyword.lower() == "include":
            found.append((index, directive.value.split()))
    return found


def expand_include(pattern: str, lister) -> list[str]:
    """The files an Include pattern names (relative to /etc/ssh; glob(3) order; no leading dots by *)."""
    path = pattern if pattern.startswith("/") else _posixpath.join(SSH_DIR, pattern)
    directory, name = _posixpath.split(path)
    if not any(ch in name for ch in "*?["):
        return [path]
    names = [n for n in lister(directory) if _fnmatch.fnmatchcase(n, name) and (name.startswith(".") or not n.startswith("."))]
    return [_posixpath.join(directory, n) for n in sorted(names)]


def included_paths(files: dict[str, str], main: str, lister) -> list[str]:
    """Every file the main config's (global) Include lines name, in the order sshd reads them."""
    paths = []
    for _index, patterns in _include_patterns(files[main]):
        for pattern in patterns:
            paths += [p for p in expand_include(pattern, lister) if p not in paths]
    return paths


def _reading_order(files: dict[str, str], main: str) -> list[tuple[str, int | None]]:
    """(path, stop line) pieces in sshd's reading order: main up to each Include, the included files, the rest."""
    order, start = [], 0
    includes = [p for p in files if p != main]
    for index, _patterns in _include_patterns(files[main]):
        order.append((main, (start, index)))
        order += [(p, None) for p in includes]
        includes = []
        start = index + 1
    order.append((main, (start, None)))
    return order


def plan_permit(files: dict[str, str], main: str, conn: dict, value: str, comment_out=()) -> dict[str, str]:
    """{path: new text}: PermitRootLogin = value where sshd reads it first (global part), configured lines commented out."""
    new = dict(files)
    for line in comment_out:
        new = {p: comment_out_line(t, line) for p, t in new.items()}
    for path, span in _reading_order(new, main):
        lines = split_lines_keepends(new[path])
        directives, match_index = _global_directives(lines)
        low, high = span if span else (0, None)
        for d in directives:
            if d.keyword.lower() == "permitrootlogin" and d.index >= low and (high is None or d.index < high):
                _, ending = line_body(lines[d.index])
                lines[d.index] = f"{d.indent}{d.keyword} {value}{ending or ''}"
                new[path] = "".join(lines)
                return {p: t for p, t in new.items() if t != files[p]}
    first_include = next((i for i, _ in _include_patterns(new[main])), None)
    lines = split_lines_keepends(ensure_final_newline(new[main]))
    lines.insert(first_include if first_include is not None else len(lines), f"PermitRootLogin {value}\n")
    new[main] = ensure_final_newline("".join(lines))
    return {p: t for p, t in new.items() if t != files[p]}


comment_out_line = comment_out
