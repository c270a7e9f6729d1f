"""The sandbox's in-memory world: tasks, platform tracks, result files and fault switches."""

from __future__ import annotations

import logging
import tempfile
import threading
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("stemweb.sandbox")

# Fault switches, per provider ("camb", "finevoice", "suno"):
#   task_error         the next task ends in the provider's failure status
#   rate_limit         the next API request answers 429 with Retry-After: 1
#   server_error       the next API request answers 500
#   slow               the next API request answers after SLOW_S seconds (past client timeouts)
#   malformed          the next API request answers 200 with a body that is not JSON
#   result_404         the next task's result URLs point at files that do not exist
#   result_private     the next task's result URLs point at a link-local address
#   duplicate_callback the next Suno task's callback is delivered twice
#   no_callback        the next Suno task never calls back (record-info still answers)
#   callback_fails     the next Suno task's callback reports a failure (code 451)
FAULTS = {
    "task_error",
    "rate_limit",
    "server_error",
    "slow",
    "malformed",
    "result_404",
    "result_private",
    "duplicate_callback",
    "no_callback",
    "callback_fails",
}
REQUEST_FAULTS = {"rate_limit", "server_error", "slow", "malformed"}
SLOW_S = 3.0


@dataclass
class Task:
    provider: str
    kind: str  # CAMB: "foreground_background"; FineVoice: the model; Suno: the type
    status: str = "pending"  # pending -> done | failed
    error: str = ""
    run_id: int | None = None
    stems: dict[str, Path] = field(default_factory=dict)
    origin: Path | None = None
    faults: set[str] = field(default_factory=set)
    callback_url: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


class Sandbox:
    """All state of one sandbox server. Thread-safe; work runs on a small pool."""

    def __init__(self, *, api_key: str = "sandbox-key", callback_scale: float = 1.0) -> None:
        self.api_key = api_key
        self.callback_scale = callback_scale  # 1.0: retry callbacks after 1, 5 and 15 minutes
        self.files = Path(tempfile.mkdtemp(prefix="stemweb-sandbox-"))
        self.tasks: dict[str, Task] = {}
        self.runs: dict[int, Task] = {}
        self.tracks: dict[tuple[str, str], Path] = {}
        self.folders: list[dict[str, Any]] = []
        self.callbacks_sent: list[dict[str, Any]] = []
        self._faults: dict[str, list[str]] = defaultdict(list)
        self._lock = threading.Lock()
        self._next_run = 1000
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sandbox")

    def set_fault(self, provider: str, fault: str, times: int = 1) -> None:
        """Arm ``fault`` for ``provider``'s next ``times`` tasks or requests."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {sorted(FAULTS)}")
        with self._lock:
            self._faults[provider].extend([fault] * times)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_request_fault(self, provider: str) -> str | None:
        with self._lock:
            for fault in self._faults[provider]:
                if fault in REQUEST_FAULTS:
                    self._faults[provider].remove(fault)
                    return fault
        return None

    def take_task_faults(self, provider: str) -> set[str]:
        with self._lock:
            taken = {f for f in self._faults[provider] if f not in REQUEST_FAULTS}
            self._faults[provider] = [f for f in self._faults[provider] if f in REQUEST_FAULTS]
        return taken

    def add_task(self, task: Task) -> Task:
        with self._lock:
            self.tasks[task.id] = task
        return task

    def new_run_id(self, task: Task) -> int:
        with self._lock:
            self._next_run += 1
            self.runs[self._next_run] = task
            return self._next_run

    def add_track(self, task_id: str, audio_id: str, path: Path) -> None:
        """Make ``path`` a platform track that Suno-style requests can name."""
        self.tracks[(task_id, audio_id)] = path

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
