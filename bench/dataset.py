"""The generated /home of the benchmark: a pure, seeded plan, and the script that makes it on a lab host.

`plan()` decides every file (owner, path under /home, size) from a seed, so
two runs of the bench move the same data. Sizes follow a log-normal spread
(median about 8 KiB, a long tail of files of several MiB, as a real /home
with mail, sources, papers and a few images and tarballs), scaled so they add
up to the requested total exactly. `change_plan()` picks the 1% that changes
before the swap: a third of it modified in place, a third added, a third deleted.

`MAKE_SCRIPT` runs inside the lab host (python3 of the host, via
lab.api.exec): it reads a JSON job on stdin and creates, modifies or deletes
the files with their owner's UID/GID; nothing here touches a host itself.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

SUBDIR = "bench-data"                 # under each user's home
EXTENSIONS = (".txt", ".tex", ".c", ".py", ".dat", ".pdf", ".jpg", ".tar.gz", ".mbox", ".html")
FILES_PER_DIR = 100


@dataclass(frozen=True)
class FileSpec:
    path: str        # relative to /home, e.g. "yasuda/bench-data/03/07/f000123.tex"
    user: str
    size: int


@dataclass(frozen=True)
class ChangeSet:
    modify: tuple[FileSpec, ...]
    add: tuple[FileSpec, ...]
    delete: tuple[FileSpec, ...]

    @property
    def count(self) -> int:
        return len(self.modify) + len(self.add) + len(self.delete)


def spread_sizes(rng: random.Random, count: int, total: int) -> list[int]:
    """`count` sizes (>= 1 byte) from a log-normal spread, summing to `total` exactly."""
    if count <= 0:
        return []
    if total < count:
        raise ValueError(f"total {total} bytes cannot give {count} files of at least 1 byte")
    cap = max(total // 20, -(-total // count))    # no file over 5% of the set (unless there are few files)
    weights = [rng.lognormvariate(9.0, 2.0) for _ in range(count)]
    scale = (total - count) / sum(weights)
    sizes = [1 + min(cap - 1, int(w * scale)) for w in weights]
    rest = total - sum(sizes)
    for i in sorted(range(count), key=lambda i: -sizes[i]):   # what rounding and the cap left: largest first
        if rest <= 0:
            break
        give = min(rest, cap - sizes[i])
        sizes[i] += give
        rest -= give
    return sizes


def _path(user: str, number: int, leaf: int, rng: random.Random, prefix: str = "f", subdir: str = SUBDIR) -> str:
    ext = rng.choice(EXTENSIONS)
    return f"{user}/{subdir}/{leaf // 10:02d}/{leaf % 10:02d}/{prefix}{number:06d}{ext}"


def plan(count: int, total: int, users: list[str], seed: int = 6, subdir: str = SUBDIR) -> list[FileSpec]:
    """The data set: `count` files of `total` bytes, spread over `users` (unevenly, as people are)."""
    if not users:
        raise ValueError("no users to own the files")
    rng = random.Random(seed)
    sizes = spread_sizes(rng, count, total)
    weights = [1.0 / (rank + 1) for rank in range(len(users))]   # a few users hold most files
    leaves = max(1, count // FILES_PER_DIR)
    out = []
    for number, size in enumerate(sizes):
        user = rng.choices(users, weights)[0]
        out.append(FileSpec(_path(user, number, rng.randrange(leaves), rng, subdir=subdir), user, size))
    return out


def change_plan(files: list[FileSpec], fraction: float = 0.01, seed: int = 66) -> ChangeSet:
    """1% (`fraction`) of the files: a third modified, a third added (new names), a third deleted."""
    rng = random.Random(seed)
    total = max(3, round(len(files) * fraction))
    n_mod, n_add = total // 3, total // 3
    n_del = total - n_mod - n_add
    picked = rng.sample(range(len(files)), min(len(files), n_mod + n_del))
    modify = tuple(files[i] for i in picked[:n_mod])
    delete = tuple(files[i] for i in picked[n_mod:])
    users = sorted({f.user for f in files})
    leaves = max(1, len(files) // FILES_PER_DIR)
    sizes = [f.size for f in files]
    subdir = files[0].path.split("/")[1] if files else SUBDIR
    add = []
    for number in range(n_add):
        user = rng.choice(users)
        add.append(FileSpec(_path(user, number, rng.randrange(leaves), rng, prefix="n", subdir=subdir), user, rng.choice(sizes)))
    add = tuple(add)
    return ChangeSet(modify, add, delete)


def job(root: str, create=(), modify=(), delete=()) -> str:
    """The JSON job MAKE_SCRIPT reads: paths relative to `root`."""
    return json.dumps({
        "root": root,
        "create": [[f.path, f.size, f.user] for f in create],
        "modify": [[f.path, f.size] for f in modify],
        "delete": [f.path for f in delete],
    }, separators=(",", ":"))


def changes_job(root: str, changes: ChangeSet) -> str:
    return job(root, create=changes.add, modify=changes.modify, delete=changes.delete)


def summary(files: list[FileSpec]) -> dict:
    sizes = sorted(f.size for f in files)
    if not sizes:
        return {"files": 0, "bytes": 0}
    return {"files": len(sizes), "bytes": sum(sizes), "users": len({f.user for f in files}),
            "median": sizes[len(sizes) // 2], "p99": sizes[int(len(sizes) * 0.99)], "max": sizes[-1]}


# Runs inside a lab host as root: `python3 -c MAKE_SCRIPT < job.json`. Prints one JSON line of counts.
MAKE_SCRIPT = r'''
import json, os, pwd, sys, time
job = json.load(sys.stdin)
root = job["root"]
owners, made_dirs = {}, set()
def owner(user):
    if user not in owners:
        p = pwd.getpwnam(user)
        owners[user] = (p.pw_uid, p.pw_gid)
    return owners[user]
def ensure_dir(path, ids):
    stack = []
    d = os.path.dirname(path)
    while d not in made_dirs and not os.path.isdir(d):
        stack.append(d)
        d = os.path.dirname(d)
    for d in reversed(stack):
        os.mkdir(d, 0o755)
        os.chown(d, *ids)
    made_dirs.add(os.path.dirname(path))
chunk = os.urandom(1 << 20)
def fill(fh, size):
    left = size
    while left > 0:
        n = min(left, len(chunk))
        fh.write(chunk[:n] if left > len(chunk) else os.urandom(n))
        left -= n
made = changed = removed = 0
for rel, size, user in job["create"]:
    path = os.path.join(root, rel)
    ids = owner(user)
    ensure_dir(path, ids)
    with open(path, "wb") as fh:
        fill(fh, size)
    os.chown(path, *ids)
    made += 1
for rel, size in job["modify"]:
    path = os.path.join(root, rel)
    with open(path, "r+b") as fh:
        fh.seek(size // 2)
        fh.write(os.urandom(max(1, min(4096, size - size // 2))))
    now = time.time() + 2
    os.utime(path, (now, now))
    changed += 1
for rel in job["delete"]:
    os.unlink(os.path.join(root, rel))
    removed += 1
print(json.dumps({"created": made, "modified": changed, "deleted": removed}))
'''
