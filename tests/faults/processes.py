"""The fault suite's child processes: each in its own session, its output in files, killed
as a tree (``SIGKILL`` to every process of the session) or stopped warm."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESTART_DELAY_S = 3.0  # a child that exited by itself starts again this long after it started


def session_members(sid: int) -> list[int]:
    """Every live process in session ``sid`` (RQ's work-horse has its own process group, but
    stays in the worker's session)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid:  # state, ppid, pgrp, session
            members.append(int(stat.parent.name))
    return members


class Child:
    """A real child process in its own session, its stdout and stderr in files; ``before``
    commands run to completion first (the Docker worker runs ``recover_jobs`` before it)."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        logs: Path,
        before: Iterable[list[str]] = (),
    ) -> None:
        self.name, self.argv, self.env, self.logs = name, argv, env, logs
        self.before = list(before)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.started_at = 0.0
        self.exits: list[int] = []  # return codes of exits nobody asked for

    def _files(self, n: int) -> tuple[Path, Path]:
        return self.logs / f"{self.name}.{n}.stdout", self.logs / f"{self.name}.{n}.stderr"

    def start(self) -> None:
        self.starts += 1
        self.started_at = time.monotonic()
        out, err = self._files(self.starts)
        with open(out, "ab") as stdout, open(err, "ab") as stderr:
            for command in self.before:
                subprocess.run(
                    command, env=self.env, cwd=ROOT, stdout=stdout, stderr=stderr, check=False
                )
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=ROOT,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill_tree(self) -> int:
        """SIGKILL every process of the child's session at once; how many there were."""
        if self.process is None:
            return 0
        members = session_members(self.process.pid)
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()
        return len(members)

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM (a warm shutdown), then SIGKILL whatever of the session is left."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout_s)
        for pid in session_members(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()

    def tail(self, lines: int = 30) -> str:
        text = []
        for n in range(1, self.starts + 1):
            for path in self._files(n):
                content = path.read_text(errors="replace").splitlines() if path.exists() else []
                if content:
                    text.append(f"--- {path.name} (last {min(lines, len(content))} lines)")
                    text.extend(content[-lines:])
        return "\n".join(text)
