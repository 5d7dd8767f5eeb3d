"""`serverswap`: the fabfile's tasks as a program of their own (what `pip install .` puts on PATH).

Invoke's documented way to ship a task collection as its own command is a
`Program` with that namespace; Fabric's `Fab` is that Program with `-H`,
SSH options and its Executor. So `serverswap --list` is `fab --list` run
from the checkout, and works from any directory. The hosts file is
`--hosts-file FILE`, else $SERVERSWAP_HOSTS, else the checkout's hosts.toml.
"""

from __future__ import annotations

import os
import sys

from fabric import Config, Executor
from fabric.main import Fab
from invoke import Argument

from . import __doc__ as package_doc


class Serverswap(Fab):
    def core_args(self):
        return super().core_args() + [
            Argument(names=("hosts-file",), help="The hosts file (default: $SERVERSWAP_HOSTS, else the shipped hosts.toml)."),
        ]

    def task_list_opener(self, extra: str = "") -> str:
        """The same header as `fab --list` ("Available tasks"), not Invoke's "Subcommands" for bundled namespaces."""
        bundled, self.namespace = self.namespace, None
        try:
            return super().task_list_opener(extra)
        finally:
            self.namespace = bundled

    def parse_core(self, argv):
        super().parse_core(argv)
        hosts_file = self.args["hosts-file"].value
        if hosts_file:
            os.environ["SERVERSWAP_HOSTS"] = os.path.abspath(hosts_file)


def program() -> Serverswap:
    from . import build_namespace

    return Serverswap(name="serverswap", binary="serverswap", version="0.2.0", namespace=build_namespace(),
                      executor_class=Executor, config_class=Config)


def main(argv=None) -> None:
    program().run(argv if argv is not None else sys.argv)


if __name__ == "__main__":  # python3 -m fabfile.cli
    main()


__all__ = ["main", "program", "package_doc"]
