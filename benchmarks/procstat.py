"""CPU time from ``/proc``, for the benchmarks that measure processes they start: the
machine's busy ticks, a process's, a process tree's; how a server's connections are split among
its worker processes; and the signal handler that turns SIGTERM into SystemExit so a
benchmark's ``finally`` cleans up."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")  # ticks per second


def interrupted(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally that cleans up


def busy_ticks() -> int:
    """Busy CPU ticks of the whole machine so far (all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]


def process_ticks(pid: int) -> int:
    """user + system ticks of one process (all its threads); 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of proc(5)


def ticks(pids: list[int]) -> dict[int, int]:
    return {pid: process_ticks(pid) for pid in pids}


def children(root: int) -> list[int]:
    """The pids whose parent is ``root`` (a gunicorn master's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            if parent == root:
                found.append(int(entry.name))
    return found


def tree_ticks(root: int) -> int:
    """Ticks of ``root`` and its children (a gunicorn master and its workers)."""
    return process_ticks(root) + sum(process_ticks(pid) for pid in children(root))


def connections_per_worker(root: int, port: int) -> list[int]:
    """How many established TCP connections to local ``port`` each child of ``root`` holds,
    most first: the workers share one listening socket and whichever accepts a connection
    serves it for as long as the client keeps it open (``/proc/net/tcp`` and each worker's
    socket descriptors)."""
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
                established.add(fields[9])  # the socket's inode
    counts = []
    for pid in children(root):
        inodes = set()
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
        counts.append(len(inodes & established))
    return sorted(counts, reverse=True)


def cpu_s(pid: int) -> float:
    """The user and system CPU seconds of process ``pid`` so far; 0 once it is gone."""
    return process_ticks(pid) / TICK
