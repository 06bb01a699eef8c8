"""Error types shared by every layer.

Rules: local bugs stay loud (plain exceptions); untrusted input raises one narrow type per input
kind, which the receiving path catches, counts and logs. Nothing here does I/O.
"""


class PyKeepalivedError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(PyKeepalivedError):
    """The configuration cannot be used; the diagnostics say why."""


class RemoteProtocolError(PyKeepalivedError):
    """A peer sent something we refuse (a malformed or foreign packet).

    ``reason`` is a short stable slug (``bad_checksum``, ``ttl``...) used as a counter label.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class KernelError(PyKeepalivedError):
    """The kernel refused an operation (netlink error, missing module)."""
