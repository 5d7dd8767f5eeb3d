"""The house rules, read from the code itself (AST): one door to the hosts, values never pasted into a shell.

* Only the host layer (fabfile/remote.py, commands.py, hostfiles.py,
  facts.py) and the session (connecting) touch the Fabric connection:
  no `.connection`, `.client`, `.sftp`, `.transport`, `.c.run` ... elsewhere.
* A remote command is an argv list or a `Script` whose text is a string
  literal (or a module constant bound to one): a command built by an
  f-string, `%`, `+` or `.format` fails here.
* No function in fabfile/ is longer than 40 lines.
"""

import ast
from pathlib import Path

import pytest

FABFILE = Path(__file__).resolve().parents[2] / "fabfile"
HOST_LAYER = {"remote.py", "commands.py", "hostfiles.py", "facts.py", "session.py"}
CONNECTION_ATTRS = {"connection", "client", "sftp", "transport"}
COMMAND_CALLS = {"probe", "check", "change", "launch", "stream"}


def modules():
    return sorted(p for p in FABFILE.rglob("*.py"))


def module_strings(tree) -> set[str]:
    """Names bound at module level to a string literal (allowed as a Script text)."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def is_built_string(node) -> bool:
    return isinstance(node, (ast.JoinedStr, ast.BinOp)) or (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join"))


def problems_in(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    consts = module_strings(tree)
    rel = path.relative_to(FABFILE.parent)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and path.name not in HOST_LAYER and "edit" not in path.parts:
            if node.attr in CONNECTION_ATTRS and not (isinstance(node.value, ast.Name) and node.value.id == "http"):
                found.append(f"{rel}:{node.lineno}: touches the connection (.{node.attr}) outside the host layer")
            if node.attr in ("run", "sudo", "put", "get") and isinstance(node.value, ast.Attribute) and node.value.attr == "c":
                found.append(f"{rel}:{node.lineno}: calls the Fabric connection (.c.{node.attr}) outside the host layer")
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        first = node.args[0]
        if name in COMMAND_CALLS and isinstance(node.func, ast.Attribute) and (
                is_built_string(first) or (isinstance(first, ast.Constant) and isinstance(first.value, str))):
            found.append(f"{rel}:{node.lineno}: .{name}() gets a command string; give an argv list or a Script")
        if name == "Script" and not (isinstance(first, ast.Constant) and isinstance(first.value, str)) and not (
                isinstance(first, ast.Name) and first.id in consts) and not (isinstance(first, ast.Attribute) and first.attr == "text"):
            found.append(f"{rel}:{node.lineno}: Script text must be a string literal (values go in as its arguments)")
    return found


def test_only_the_host_layer_touches_the_connection_and_commands_are_argv():
    found = [p for path in modules() for p in problems_in(path)]
    assert not found, "\n".join(found)


def test_the_rule_catches_what_it_forbids(tmp_path):
    bad = FABFILE / "ops" / "_ast_probe_tmp.py"
    bad.write_text('def f(host, x):\n    host.probe(f"rm -rf {x}")\n    host.c.run("ls")\n    host.files.sftp.stat(x)\n'
                   '    from .commands import Script\n    Script("cd " + x)\n')
    try:
        found = problems_in(bad)
    finally:
        bad.unlink()
    assert len(found) == 4, found


def function_lengths():
    for path in modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f"{path.relative_to(FABFILE.parent)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1


def test_no_function_is_longer_than_40_lines():
    long = [f"{where} ({n} lines)" for where, n in function_lengths() if n > 40]
    assert not long, "\n".join(long)
