"""Invoke tasks for the team: the lab, the tests, the rehearsal, the benchmarks.

The operator's tasks are in fabfile/ (`fab --list`); these are ours (`inv --list`).
"""

import os
import sys

from invoke import Collection, task

HERE = os.path.dirname(os.path.abspath(__file__))


def _lab_hosts():
    from lab import api

    return str(api.hosts_file())   # lab/hosts.toml, or lab/hosts-modern.toml under LAB_PROFILE=modern


@task(help={"k": "pytest -k expression", "unit": "unit tests only (no lab)"})
def test(c, k="", unit=False):
    """Run the test suite (the lab tests bring the lab up themselves)."""
    args = ["-m", "not lab"] if unit else []
    if k:
        args += ["-k", k]
    c.run(f"{sys.executable} -m pytest {' '.join(args)}", pty=False)


@task
def rehearse(c):
    """The full rehearsal of the runbook on the lab, with its report."""
    c.run(f"{sys.executable} -m lab.api up", pty=False)
    env = {"SERVERSWAP_HOSTS": _lab_hosts(), "SERVERSWAP_YES": "1"}
    c.run("fab rehearse", env=env, pty=False)


@task
def readme(c):
    """Write the README's configuration reference from the settings schema (fabfile/schema.py)."""
    from fabfile import schema

    path = os.path.join(HERE, "README.md")
    text = open(path, encoding="utf-8").read()
    begin, end = "<!-- reference: generated from fabfile/schema.py by `inv readme` -->", "<!-- end of reference -->"
    head, rest = text.split(begin, 1)
    _old, tail = rest.split(end, 1)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"{head}{begin}\n{schema.reference_table()}\n{end}{tail}")
    print(f"{path}: configuration reference written")


ns = Collection(test, rehearse, readme)
try:
    from lab.tasks import ns as lab_ns

    ns.add_collection(lab_ns)
except ImportError:  # the lab package not present yet
    pass
try:
    from bench.tasks import bench

    ns.add_task(bench)
except ImportError:
    pass
