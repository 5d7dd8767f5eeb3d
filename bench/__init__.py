"""The benchmarks of issue 6: `inv bench` (see bench/README.md).

- dataset.py  the generated /home (pure plan + the script that makes it inside a lab host)
- report.py   results -> one table + JSON (pure)
- labrun.py   running `fab` against the lab: hosts file, timing, peak memory, sshd log counts
- ansible.py  the Ansible side of the file-edit comparison (venv under /var/tmp)
- measures.py the five measures
- tasks.py    the invoke task `bench`
"""
