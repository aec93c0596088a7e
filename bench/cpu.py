"""Where a benchmark's CPU went: CPU seconds per role over a window, read from the kernel.

A ratio says how much slower the candidate is; this says which processes paid for it. The
processes are listed before the window opens (listing every process of the machine costs
more than a short round), so a process started inside the window is not counted; each
benchmark warms up first, which opens its connections and pool processes.
"""
from __future__ import annotations

import statistics
from typing import Callable

import psutil


def tree(pid: int) -> list[psutil.Process]:
    """The process `pid` and all its descendants."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def named(name: str) -> list[psutil.Process]:
    """Every process whose executable is called `name` (a server's workers included)."""
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == name]


def servers() -> dict[str, Callable[[], list[psutil.Process]]]:
    """The roles every benchmark shares: the PostgreSQL and Redis servers."""
    return {"postgres": lambda: named("postgres"), "redis": lambda: named("redis-server")}


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent doing anything, all cores together."""
    times = psutil.cpu_times()  # guest time is already in user; steal is not ours
    return sum(getattr(times, field, 0.0) for field in ("user", "nice", "system", "irq",
                                                         "softirq"))


def _cpu_seconds(processes: list[psutil.Process]) -> dict[int, float]:
    seconds = {}
    for process in processes:
        try:
            used = process.cpu_times()
        except psutil.Error:  # gone since it was listed: its time is lost with it
            continue
        seconds[process.pid] = used.user + used.system
    return seconds


class CpuMeter:
    """CPU seconds per role between start() and stop(), and the machine's in all."""

    def __init__(self, roles: dict[str, Callable[[], list[psutil.Process]]]):
        self.roles = roles
        self.processes: dict[str, list[psutil.Process]] = {}
        self.before: dict[str, dict[int, float]] = {}
        self.machine_before = 0.0

    def resolve(self) -> None:
        """List each role's processes now, before a window (start() only reads their times)."""
        self.processes = {role: find() for role, find in self.roles.items()}

    def start(self) -> None:
        self.before = {role: _cpu_seconds(ps) for role, ps in self.processes.items()}
        self.machine_before = _busy_seconds()

    def stop(self) -> dict[str, float]:
        machine = _busy_seconds() - self.machine_before
        used = {}
        for role, processes in self.processes.items():
            now, then = _cpu_seconds(processes), self.before[role]
            used[role] = sum(seconds - then.get(pid, seconds) for pid, seconds in now.items())
        # The kernel's network work (softirq) and processes of no role land here.
        used["other"] = machine - sum(used.values())
        used["machine"] = machine
        return used


def per_item_ms(readings: list[tuple[dict[str, float], int]]) -> dict[str, float]:
    """The median over rounds of each role's CPU milliseconds per item (request, job)."""
    roles = readings[0][0].keys()
    return {role: statistics.median(1000 * used[role] / items for used, items in readings)
            for role in roles}


def describe(label: str, readings: list[tuple[dict[str, float], int]]) -> str:
    """One line: `label`, then each role's median CPU ms per item, the machine's in all last."""
    medians = per_item_ms(readings)
    return f"{label}: " + ", ".join(f"{role} {ms:.2f}" for role, ms in medians.items())
