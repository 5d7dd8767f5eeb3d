"""`python3 -m bench.fabprogram ARGS`: the tool's own program (fabfile/cli.py) with one task more, `bench-edits`.

`bench-edits` runs the four file edits of the Ansible comparison (Z1 on two
zone files, N2, P1 on new; D4 on old) through the tool's own lanes runner
(fabfile/lanes.run_lanes, as `fab phase3` runs D1-D4 beside N1-N3): lanes
side by side, one process, one SSH connection per host. The
steps, their journal records, resume and failure handling are the tool's;
only the grouping is the bench's (the runbook never runs these four together:
Z1 is the morning's, P1 the day before's, D4 and N2 the night's).
"""

from __future__ import annotations

import sys

from fabric import task

# --lanes host: one lane per host (the issue's "the two hosts' edits side by side");
# --lanes service: one lane per independent edit group, as phase1 runs "old" and "old mail" side by side on
# one host: Z1 (BIND's zone files) apart from N2 + P1 (the list's bouncer, sshd) on new, D4 on old.
LANES = {
    "host": {"new": [("phase0", "lower_ttl"), ("phase3", "bouncer"), ("prep", "allow_root_login")],
             "old": [("phase3", "qmail_local_only")]},
    "service": {"new": [("phase0", "lower_ttl")], "new sshd": [("phase3", "bouncer"), ("prep", "allow_root_login")],
                "old": [("phase3", "qmail_local_only")]},
}


def _steps(pairs):
    from importlib import import_module

    return [getattr(import_module(f"fabfile.{module}"), name) for module, name in pairs]


@task(name="bench-edits", help={"lanes": "host (one lane per host, default) or service (Z1 apart from N2+P1 on new)"})
def bench_edits(c, lanes="host"):
    """Z1, N2, P1 (new) beside D4 (old): the bench's file edits, in lanes side by side (fabfile/lanes.run_lanes)."""
    from fabfile.lanes import run_lanes

    if lanes not in LANES:
        raise SystemExit(f"bench-edits: --lanes is one of {', '.join(LANES)}")
    run_lanes(c, {name: _steps(pairs) for name, pairs in LANES[lanes].items()}, "bench edits")


def main(argv=None) -> None:
    from fabfile.cli import program

    prog = program()
    prog.namespace.add_task(bench_edits)
    prog.run(argv if argv is not None else sys.argv)


if __name__ == "__main__":
    main()
