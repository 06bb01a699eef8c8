"""systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram per state.

Rules: a no-op outside systemd (no ``NOTIFY_SOCKET``); never raises: a lost notification must
not take the daemon down.
"""

import os
import socket
import time


def notify(*fields: str) -> bool:
    """Send ``READY=1``, ``RELOADING=1``, ``STOPPING=1``, ``STATUS=...``; True if sent."""
    target = os.environ.get("NOTIFY_SOCKET")
    if not target:
        return False
    address = "\0" + target[1:] if target.startswith("@") else target
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto("\n".join(fields).encode(), address)
    except OSError:
        return False
    return True


def ready(status: str = "") -> bool:
    return notify("READY=1", *([f"STATUS={status}"] if status else []))


def reloading() -> bool:
    """systemd >= 253 wants MONOTONIC_USEC with RELOADING=1 (Type=notify-reload)."""
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={usec}")


def stopping() -> bool:
    return notify("STOPPING=1")
