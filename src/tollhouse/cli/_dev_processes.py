"""The children of `tollhouse dev`: each server its own process, its output in a log file.

Children run in process groups of their own, so that a Ctrl-C in the terminal reaches
`tollhouse dev` alone, and it stops them in the reverse of their start order (the gateway
before the control plane it long-polls, the control plane before the directory it asks).
A signal only sets a flag (`StopRequest`); the supervisor acts on it at its next check, so a
stop never lands halfway through starting a child or writing a file. Once stopping, a second
signal hurries: children still running are killed instead of waited for.

A child that exits on its own is reported (`ChildExited`): which one, how it ended, the last
lines of its log.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from tollhouse.cli._errors import CliError

# How often children and readiness are looked at.
POLL_SECONDS = 0.1
# A child's SIGTERM grace: the gateway's own is 30 s for requests in flight
# (gateway/_runtime.py DEFAULT_SHUTDOWN_GRACE_SECONDS); a little more, then SIGKILL.
STOP_GRACE_SECONDS = 35.0
# Lines of a child's log shown when it dies or does not become ready.
LOG_TAIL_LINES = 20
# A log's tail is read from at most this many last bytes.
LOG_TAIL_BYTES = 64 * 1024
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(Exception):
    """A stop was asked for (Ctrl-C, SIGTERM, SIGHUP)."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


class ChildExited(Exception):
    def __init__(self, child: Child, status: int) -> None:
        super().__init__(child.name)
        self.child = child
        self.status = status

    def describe(self) -> str:
        how = (
            f"was killed by {_signal_name(-self.status)}"
            if self.status < 0
            else f"exited with status {self.status}"
        )
        return f"the {self.child.name} (pid {self.child.pid}) {how}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
            data = handle.read()
    except OSError:
        return []
    return data.decode("utf-8", errors="replace").splitlines()[-lines:]


class StopRequest:
    """Set by the stop signals; read by the supervisor."""

    def __init__(self) -> None:
        self.requested = False
        self.hurry = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            self.hurry = True
        self.requested = True

    @contextmanager
    def installed(self) -> Iterator[StopRequest]:
        previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class Supervisor:
    """Starts children, waits for them to be ready, watches them, stops them all."""

    def __init__(self, logs: Path, stop: StopRequest) -> None:
        self._logs = logs
        self._stop = stop
        self.children: list[Child] = []

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> Child:
        self.check()
        log = self._logs / f"{name.replace(' ', '-')}.log"
        with log.open("wb") as output:
            # Our own interpreter and arguments: nothing from outside is executed.
            process = subprocess.Popen(  # noqa: S603
                list(argv),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                process_group=0,
            )
        child = Child(name, process, log)
        self.children.append(child)
        return child

    def check(self) -> None:
        """Raises `Interrupted` if a stop was asked for, `ChildExited` if a child ended."""
        if self._stop.requested:
            raise Interrupted
        for child in self.children:
            status = child.process.poll()
            if status is not None:
                raise ChildExited(child, status)

    def wait_until(
        self, child: Child, ready: Callable[[], bool], timeout: float, what: str
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check()
            if ready():
                return
            if time.monotonic() > deadline:
                raise NotReady(child, f"the {child.name} is not {what} after {timeout:.0f} s")
            time.sleep(POLL_SECONDS)

    def watch(self) -> None:
        """Returns never: raises `Interrupted` or `ChildExited`."""
        while True:
            self.check()
            time.sleep(POLL_SECONDS)

    def stop_all(self) -> None:
        """Every child, latest first: SIGTERM, then SIGKILL after the grace (or at once,
        once hurried)."""
        # From here on a signal does not interrupt: it hurries.
        self._stop.requested = True
        for child in reversed(self.children):
            if child.process.poll() is not None:
                continue
            with _suppress_gone():
                child.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            while child.process.poll() is None:
                if self._stop.hurry or time.monotonic() > deadline:
                    with _suppress_gone():
                        child.process.kill()
                    break
                time.sleep(POLL_SECONDS)
        for child in self.children:
            child.process.wait()


class NotReady(CliError):
    def __init__(self, child: Child, message: str) -> None:
        super().__init__(message)
        self.child = child


@contextmanager
def _suppress_gone() -> Iterator[None]:
    try:
        yield
    except ProcessLookupError:
        pass


def child_environment(environ: Mapping[str, str], local_hosts: Sequence[str]) -> dict[str, str]:
    """The environment the children start from: this one, less what would reconfigure them.

    Settings are read from the environment before any file (docs/settings.md), and a shell
    that sourced `<state>/env` holds the administrator's AZURE_* variables: either would
    override what `tollhouse dev` gives its children. Loopback is kept off any proxy.
    """
    kept = {
        name: value
        for name, value in environ.items()
        if not name.lower().replace("_", ".").startswith(SETTING_PREFIXES)
        and not name.upper().startswith(FOREIGN_PREFIXES)
    }
    for name in ("NO_PROXY", "no_proxy"):
        current = [h for h in kept.get(name, "").split(",") if h.strip()]
        kept[name] = ",".join([*current, *(h for h in local_hosts if h not in current)])
    # Logs reach the file as they are written: a dead child's last lines are there.
    kept["PYTHONUNBUFFERED"] = "1"
    return kept


# The first segments of Tollhouse's and APIM's dotted settings (docs/settings.md), which are
# also read in upper-snake form (CONFIG_SERVICE_ENDPOINT).
SETTING_PREFIXES = (
    "directory.",
    "controlplane.",
    "config.",
    "gateway.",
    "net.",
    "telemetry.",
    "neighborhood.",
    "policy.",
    "runtime.",
    "observability.",
    "heartbeat.",
)
FOREIGN_PREFIXES = ("AZURE_", "TOLLHOUSE_")
