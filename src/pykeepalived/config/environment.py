"""Environment: the questions about this machine that a config check may ask.

Rules: checks depend on the ``Environment`` protocol only; ``MachineEnvironment`` answers from
``/sys`` and the file system. Findings from it are warnings unless ``--check-environment``,
because configs are often checked on another machine than the one they run on.
"""

import os
import shlex
import socket
import stat
from typing import Protocol


class Environment(Protocol):
    def has_interface(self, name: str) -> bool: ...

    def script_problem(self, command: str, *, secure: bool) -> str | None:
        """Why ``command`` cannot run here (missing, not executable, unsafe), or None."""
        ...

    def resolves(self, host: str) -> bool: ...


class MachineEnvironment:
    def has_interface(self, name: str) -> bool:
        if not name or "/" in name or name in (".", "..") or "\0" in name:
            return False
        return os.path.exists(os.path.join("/sys/class/net", name))

    def script_problem(self, command: str, *, secure: bool) -> str | None:
        try:
            words = shlex.split(command)
        except ValueError:
            return "cannot be split into words"
        if not words:
            return "is empty"
        program = words[0]
        if not os.path.isabs(program):
            return None
        try:
            info = os.stat(program)
        except (OSError, ValueError):  # ValueError: a NUL in the name
            return f"'{program}' does not exist"
        if not os.access(program, os.X_OK):
            return f"'{program}' is not executable"
        if secure and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and os.geteuid() == 0:
            return f"'{program}' is writable by non-root users (enable_script_security)"
        return None

    def resolves(self, host: str) -> bool:
        try:
            socket.getaddrinfo(host, None)
        except (OSError, UnicodeError, ValueError):  # UnicodeError: a label over 63 bytes
            return False
        return True
