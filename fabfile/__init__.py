"""serverswap: the runbook of shared/runbook.md as fab tasks.

`fab --list` shows one namespace per phase; each task's help line starts
with its step ID(s) and the host it runs on. `fab <phase>` runs the phase
in runbook order. Hosts come from hosts.toml ($SERVERSWAP_HOSTS).

The namespace is built on first access (PEP 562), so that importing a pure
helper such as `fabfile.edit.zone` does not import Fabric.
"""

PHASES = ("prep", "phase0", "phase1", "phase2", "phase3", "phase4", "after")
_ns = None


def load_phases() -> dict:
    """The phase modules, imported (their @step declarations fill the step registry); {name: module}."""
    from importlib import import_module

    return {name: import_module(f".{name}", __name__) for name in PHASES}


def build_namespace():
    from invoke import Collection

    from .backout import backout
    from .cockpit import tasks as cockpit_tasks
    from .preflight import preflight
    from .watch_tasks import watch

    ns = Collection()
    for name, module in load_phases().items():
        ns.add_collection(Collection.from_module(module, name=name))
    for task in cockpit_tasks.TOP_LEVEL + [preflight, backout, watch]:
        ns.add_task(task)
    return ns


def __getattr__(name):
    global _ns
    if name == "ns":
        if _ns is None:
            _ns = build_namespace()
        return _ns
    raise AttributeError(name)
