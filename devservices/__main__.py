"""python -m devservices {run,test} -- CMD...  |  python -m devservices clean

run    PostgreSQL (database "gpubridge") and Redis with data under var/, kept between runs;
       writes their URLs to var/run/services.env, applies migrations, runs CMD.
test   the same under var/test/, starting from an empty database; no migrations.
clean  removes var/ unless an instance is using it.

DATABASE_URL / REDIS_URL, when set, are used as they are and that server is not started.
GPUBRIDGE_VAR_DIR moves var/. A second instance on the same directory refuses to start.
"""
from __future__ import annotations

import shutil
import sys

from .layout import REPO, InstanceLock, Layout
from .supervisor import main as supervise


def clean() -> int:
    """Remove the repository's var/ (never GPUBRIDGE_VAR_DIR: it may point anywhere)."""
    var = REPO / "var"
    if var.is_symlink():
        print(f"devservices: {var} is a symlink; remove what it points to yourself",
              file=sys.stderr)
        return 1
    locks = [InstanceLock(Layout(root).lock) for root in (var, var / "test")]
    if any(lock.is_held_elsewhere() for lock in locks):
        print(f"devservices: an instance is running on {var}; stop it first", file=sys.stderr)
        return 1
    if var.exists():
        shutil.rmtree(var)
        print(f"devservices: removed {var}")
    return 0


def main(args: list[str]) -> int:
    if args[:1] == ["clean"] and len(args) == 1:
        return clean()
    if args[:1] in (["run"], ["test"]) and args[1:2] == ["--"] and len(args) > 2:
        return supervise(args[0], args[2:])
    print(__doc__, file=sys.stderr)
    return 64  # EX_USAGE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
