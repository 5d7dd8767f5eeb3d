"""The operator's guide cannot rot: every command line it shows is one the program accepts.

docs/operator-guide.md is read at 2 a.m. and typed from. Every line of its
code blocks that runs the tool (`fab ...`, `SERVERSWAP_X=1 fab ...`,
`serverswap ...`) is parsed here by the program's own parser (the task
exists, every option is one that task or the core takes, with its value)
and each option is looked up in `fab --help TASK` (or the core `--help`).
A line that names no task (`fab --list`) is run as is and must exit 0.
Nothing touches a host: parsing and help need only the hosts file's name.
The Japanese guide must show exactly the same command lines and step IDs.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "operator-guide.md"
GUIDE_JA = ROOT / "docs" / "operator-guide.ja.md"
FABFILE = ROOT / "fabfile"
PROGRAMS = ("fab", "serverswap")
ENV = re.compile(r"^[A-Z][A-Z0-9_]*=\S*$")
STEP_ID = re.compile(r"(?<![A-Za-z0-9])([PZSCDNVBA]\d{1,2})(?![0-9])")  # also next to Japanese text (no \b there)


@pytest.fixture(autouse=True)
def _lab_hosts(monkeypatch):
    """`fab --help` and the parser need a hosts file name only (the lab's; it is never connected to)."""
    monkeypatch.setenv("SERVERSWAP_HOSTS", str(ROOT / "lab" / "hosts.toml"))


def code_lines(text: str) -> list[str]:
    """The lines inside fenced code blocks (```), stripped."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            inside = not inside
            continue
        if inside and line.strip():
            lines.append(line.strip())
    return lines


def split_command(line: str) -> tuple[dict, list[str]] | None:
    """(environment, argv) of a line that runs the tool; None for any other line (a shell command, output)."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return None
    env = {}
    while words and ENV.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if not words or words[0] not in PROGRAMS:
        return None
    return env, words


def command_lines(path: Path) -> list[str]:
    """Every line of the guide's code blocks that runs `fab` or `serverswap` (with env prefixes), in order."""
    return [line for line in code_lines(path.read_text(encoding="utf-8")) if split_command(line)]


def make_program(name: str):
    """The program a guide line runs, in-process: Fabric's `fab` on the fabfile's namespace, or `serverswap`."""
    from fabric import Config, Executor
    from fabric.main import Fab

    import fabfile
    from fabfile.cli import program

    if name == "serverswap":
        return program()
    return Fab(name="Fabric", binary="fab", namespace=fabfile.ns, executor_class=Executor, config_class=Config)


def run_program(argv: list[str]) -> tuple[int, str]:
    """Run argv in-process; (exit status, what it printed on stdout and stderr)."""
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            make_program(argv[0]).run(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue()


@lru_cache(maxsize=None)
def help_text(prog: str, task: str | None) -> str:
    """`fab --help TASK` (or the core `fab --help`), once per distinct task."""
    code, text = run_program([prog, "--help"] + ([task] if task else []))
    assert code == 0, f"{prog} --help {task or ''} exited {code}: {text.strip()[:300]}"
    return text


def parse(argv: list[str]):
    """The program's own parse of argv, without running anything: (program, {name on the line: task name}).

    Raises invoke's ParseError for an unknown task or option, or an option missing its value.
    """
    program = make_program(argv[0])
    program.create_config()
    program.parse_core(argv)
    program.parse_collection()
    program.parse_tasks()
    return program, {alias: context.name for context in program.tasks for alias in (context.name, *context.aliases)}


def tokens_by_task(argv: list[str], tasks: dict[str, str]) -> tuple[list[str], dict[str, list[str]]]:
    """The option tokens of argv (without their values) split into the core's (before the first task) and each task's."""
    core, per_task, current = [], {}, None
    for word in argv[1:]:
        if word in tasks:
            current = tasks[word]
            per_task.setdefault(current, [])
        elif word.startswith("-"):
            (per_task[current] if current else core).append(word.split("=", 1)[0])
    return core, per_task


def core_options(help_text: str) -> str:
    """The "Core options:" section of `fab --help` (a bundled namespace also lists its tasks after it)."""
    section = help_text.split("Core options:", 1)[-1]
    return re.split(r"\n(?=\S)", section.lstrip("\n"), maxsplit=1)[0]


def in_help(option: str, text: str) -> bool:
    """`--yes` as help shows it (`-y, --yes`); `--no-reboot` as `--[no-]reboot`."""
    forms = {option}
    if option.startswith("--no-"):
        forms.add("--[no-]" + option[len("--no-"):])
    return any(re.search(rf"(?<![\w-]){re.escape(form)}(?![\w-])", text) for form in forms)


def problems_of(line: str, helper=None) -> list[str]:
    """What is wrong with one guide line ([] = the program takes it as written); `helper` stands in for help_text."""
    from invoke.exceptions import ParseError

    helper = helper or help_text
    env, argv = split_command(line)
    problems = [f"{name} is read nowhere in fabfile/" for name in env if name.startswith("SERVERSWAP_") and not env_is_read(name)]
    try:
        program, tasks = parse(argv)
    except ParseError as exc:
        return problems + [f"does not parse: {exc}"]
    if not tasks:
        code, text = run_program(argv)
        return problems + ([f"exits {code}: {text.strip()[:200]}"] if code else [])
    core, per_task = tokens_by_task(argv, tasks)
    core_help = core_options(helper(argv[0], None))
    problems += [f"core option {o} is not in `{argv[0]} --help`" for o in core if not in_help(o, core_help)]
    for task in dict.fromkeys(tasks.values()):  # a core option after the task (`fab phase3.bouncer -H new`) is the core's
        text = helper(argv[0], task)
        problems += [f"{o} is not in `{argv[0]} --help {task}`" for o in per_task.get(task, [])
                     if not (in_help(o, text) or in_help(o, core_help))]
    hosts = program.args.hosts.value
    problems += [f"-H {h}: no such host alias in hosts.toml" for h in (hosts.split(",") if hosts else [])
                 if h not in shipped_aliases()]
    return problems


@lru_cache(maxsize=None)
def env_is_read(name: str) -> bool:
    return any(name in p.read_text(encoding="utf-8") for p in FABFILE.rglob("*.py"))


@lru_cache(maxsize=None)
def shipped_aliases() -> frozenset:
    import tomllib

    return frozenset(tomllib.loads((ROOT / "hosts.toml").read_text(encoding="utf-8"))["hosts"])


def test_the_guide_shows_the_commands_of_the_night():
    lines = command_lines(GUIDE)
    assert len(lines) >= 30, lines
    for wanted in ("fab preflight", "fab prep", "fab phase0", "fab phase1", "fab phase2", "fab phase3", "fab phase4",
                   "fab phase4.manual", "fab status", "fab plan", "fab backout", "fab backout --yes", "fab locate", "fab report"):
        assert wanted in lines, wanted


def guide_problems(path: Path) -> dict[str, list[str]]:
    """{command line: its problems} for every wrong command line of a guide (each distinct line checked once)."""
    found = {line: problems_of(line) for line in dict.fromkeys(command_lines(path))}
    return {line: problems for line, problems in found.items() if problems}


def test_every_command_line_of_the_guide_is_one_the_program_takes():
    wrong = guide_problems(GUIDE)
    assert not wrong, "\n".join(f"{line}: {'; '.join(p)}" for line, p in wrong.items())


def test_a_guide_with_a_wrong_command_line_fails(tmp_path):
    """End to end: the wrong line inside a code block is found; prose and output lines are not commands."""
    guide = tmp_path / "guide.md"
    guide.write_text("Run fab phase9 in prose: not a command.\n\n```sh\nfab phase2\nfab phase2.rsync-home --yes\n"
                     "fab phase2.copy-crontab\n```\n\n```text\n4 manual check(s) to confirm: fab phase4.manual\n```\n",
                     encoding="utf-8")
    assert command_lines(guide) == ["fab phase2", "fab phase2.rsync-home --yes", "fab phase2.copy-crontab"]
    assert list(guide_problems(guide)) == ["fab phase2.copy-crontab"]


@pytest.mark.parametrize("line, why", [
    ("fab phase9.nothing", "does not parse"),
    ("fab phase2.rsync-hme --yes", "does not parse"),
    ("fab phase2.rsync-home --yess", "does not parse"),
    ("fab --dryy phase2", "does not parse"),
    ("fab backout --force", "does not parse"),
    ("fab phase3.all --reboot --mask", "does not parse"),
    ("fab phase3 --mask", "does not parse"),
    ("fab phase4 --yes", "does not parse"),
    ("fab rehearse --hosts-file", "does not parse"),
    ("fab --lisst", "does not parse"),
    ("fab phase1 -H oldd", "no such host alias"),
    ("SERVERSWAP_FORSE=1 fab phase1", "read nowhere"),
])
def test_a_wrong_line_is_caught(line, why):
    found = problems_of(line)
    assert found and any(why in p for p in found), found


def test_an_option_the_parser_takes_but_help_does_not_show_is_caught():
    """The help check is a check of its own: with help texts that lack the option, the line fails."""
    bare = lambda prog, task: "Core options:\n  -H STRING  hosts\n\nOptions:\n  none\n"  # noqa: E731
    assert problems_of("fab phase2.rsync-home --yes", bare) == ["--yes is not in `fab --help phase2.rsync-home`"]
    assert problems_of("fab --dry phase2", bare) == ["core option --dry is not in `fab --help`"]
    assert problems_of("fab phase2.rsync-home --yes") == [] and problems_of("fab --dry phase2") == []


def test_a_line_without_a_task_runs_and_a_failing_one_is_caught():
    assert problems_of("fab --list") == []
    assert problems_of("fab --list nosuchphase")  # Invoke: "Sub-collection 'nosuchphase' not found!", exit 1


def test_the_japanese_guide_shows_exactly_the_same_command_lines():
    english, japanese = command_lines(GUIDE), command_lines(GUIDE_JA)
    assert set(japanese) == set(english), (sorted(set(english) - set(japanese)), sorted(set(japanese) - set(english)))


def test_both_guides_name_every_step_of_the_runbook():
    from fabfile.steps import runbook

    ids = {sid for _phase, sid, _info in runbook()}
    english = set(STEP_ID.findall(GUIDE.read_text(encoding="utf-8")))
    japanese = set(STEP_ID.findall(GUIDE_JA.read_text(encoding="utf-8")))
    assert ids <= english, sorted(ids - english)
    assert english == japanese, (sorted(english - japanese), sorted(japanese - english))
