"""The serverswap lab: old, new and backup as Debian 12 hosts in namespaces.

See lab/README.md. Public API in lab.api; invoke tasks in lab.tasks (ns).
"""
