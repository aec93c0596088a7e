"""Instruction counts of one part of a process (B9, B10): valgrind's callgrind counts only
what runs between `start()` and `stop()`, which the process calls through a small helper
built with the machine's C compiler (callgrind's client requests are C macros)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

COLLECT_C = """#include <valgrind/callgrind.h>
void start(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_TOGGLE_COLLECT; }
void stop(void) { CALLGRIND_TOGGLE_COLLECT; }
"""


def missing_tools() -> str | None:
    """What this machine lacks to count, or None."""
    missing = [tool for tool in ("valgrind", "cc") if shutil.which(tool) is None]
    if missing:
        return ", ".join(missing)
    if not Path("/usr/include/valgrind/callgrind.h").exists():
        return "valgrind's headers"
    return None


def count_each(script: str, workloads: tuple[str, ...], label: str) -> dict[str, int] | None:
    """Each workload's count, `script` run as `python script <workload> <helper>`; None, with
    what is missing printed, on a machine without the tools."""
    missing = missing_tools()
    if missing:
        print(f"{label} skipped: needs valgrind, its headers and a C compiler (missing: {missing})")
        return None
    with tempfile.TemporaryDirectory() as scratch:
        helper = build_helper(Path(scratch))
        return {name: count(script, [name, str(helper)], Path(scratch) / f"{name}.out")
                for name in workloads}


def build_helper(scratch: Path) -> Path:
    """The shared library whose start() and stop() bracket what is counted."""
    helper = scratch / "collect.so"
    (scratch / "collect.c").write_text(COLLECT_C)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", helper, scratch / "collect.c"], check=True)
    return helper


def count(script: str, args: list[str], out: Path) -> int:
    """The instructions `python script *args` runs between its start() and stop() calls."""
    done = subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                           "--collect-atstart=no", f"--callgrind-out-file={out}",
                           sys.executable, script, *args],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(script).name} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return int(re.search(r"^totals: (\d+)", out.read_text(), re.M).group(1))


def counted(helper: str, warm_up: list, measured: list) -> None:
    """Run every call of `warm_up`, then every call of `measured` with collection on."""
    import ctypes
    for call in warm_up:
        call()
    collect = ctypes.CDLL(helper)
    collect.start()
    for call in measured:
        call()
    collect.stop()
