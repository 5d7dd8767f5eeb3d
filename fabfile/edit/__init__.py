"""Pure text editors for the server swap.

Every function here takes the text of a file and returns new text (or a
plan that produces it).  Nothing in this package touches a host: no
Fabric, Invoke or Paramiko import, only the standard library, so each
editor can be tested on strings and reviewed as a diff before the host
layer writes anything.
"""


class EditError(ValueError):
    """A refusal with a one-line message an operator can act on.

    Messages never quote secret material (password hashes, private keys):
    they name files, line numbers and account names only.
    """


def split_lines_keepends(text: str) -> list[str]:
    """Split on "\\n" only, keeping the terminator.

    str.splitlines() also splits on \\x0b, \\x1c, \\u2028 and friends, which
    would rewrite bytes nobody asked us to touch; config files only know
    "\\n" (a preceding "\\r" stays part of the line).
    """
    if not text:
        return []
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def line_body(line: str) -> tuple[str, str]:
    """Return (content, terminator) so a rewrite can keep the line ending."""
    for ending in ("\r\n", "\n"):
        if line.endswith(ending):
            return line[: -len(ending)], ending
    return line, ""


def ensure_final_newline(text: str) -> str:
    """Appending lines needs the last existing line to be terminated."""
    if text and not text.endswith("\n"):
        return text + "\n"
    return text
