"""Where the request log's lines go: a file descriptor, a logging logger, or nowhere.

``REQUEST_LOG`` names the place, with gunicorn's ``accesslog`` semantics:

- ``-`` (the default): standard output, one line per request (what containers collect);
- a path: that file, opened once for appending (shared by the workers, which write
  whole lines with ``O_APPEND``, so their lines never interleave); it is never reopened,
  so rotate it in place (logrotate's ``copytruncate``);
- ``off``: no line at all (request ids are still given and returned);
- ``logger``: the ``tenants.requests`` logging logger, for deployments that route logs
  through ``logging`` handlers (it costs more per line than writing to a descriptor).

Writing to a descriptor is one ``os.write`` of a preformatted line: no logging records,
handlers, locks or formatters per request. A line that cannot be written (a closed
pipe, a full disk) is dropped and counted, never an error for the request.
"""

from __future__ import annotations

import logging
import os
from typing import Protocol

#: The logger of the ``logger`` choice.
logger = logging.getLogger("tenants.requests")

_OFF = frozenset({"off", "none", "false", "0"})
_STDOUT = frozenset({"-", "stdout"})


class LineSink(Protocol):
    """Takes finished log lines (each ends with a newline)."""

    def enabled(self) -> bool:
        """Whether a line would be kept: when not, the caller need not format one."""
        ...

    def write(self, line: str) -> None: ...


class DescriptorSink:
    """Writes each line with one ``os.write`` to a file descriptor."""

    def __init__(self, fd: int, name: str, *, owned: bool = False) -> None:
        self.fd = fd
        self.name = name
        self.owned = owned
        self.dropped = 0

    @classmethod
    def append_to(cls, path: str) -> DescriptorSink:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, 0o640)
        except OSError as error:
            raise ValueError(
                f"REQUEST_LOG={path!r}: cannot open it for appending ({error.strerror}); "
                "set a writable file, '-' for standard output, or 'off'."
            ) from None
        return cls(fd, path, owned=True)

    def enabled(self) -> bool:
        return True

    def write(self, line: str) -> None:
        data = line.encode()
        try:
            while data:
                data = data[os.write(self.fd, data) :]
        except OSError:
            self.dropped += 1

    def close(self) -> None:
        """Close the file this sink opened (standard output stays open)."""
        if self.owned and self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __repr__(self) -> str:
        return f"<DescriptorSink {self.name}>"


class LoggerSink:
    """Hands each line (without its newline) to a logging logger at INFO."""

    def __init__(self, log: logging.Logger = logger) -> None:
        self.log = log

    def enabled(self) -> bool:
        return self.log.isEnabledFor(logging.INFO)

    def write(self, line: str) -> None:
        self.log.info(line.rstrip("\n"))

    def __repr__(self) -> str:
        return f"<LoggerSink {self.log.name}>"


def open_sink(spec: str) -> LineSink | None:
    """The sink ``REQUEST_LOG`` names (see the module docstring); None for ``off``."""
    choice = spec.strip()
    if not choice or choice.lower() in _OFF:
        return None
    if choice in _STDOUT:
        return DescriptorSink(1, "stdout")
    if choice.lower() == "logger":
        return LoggerSink()
    return DescriptorSink.append_to(choice)
