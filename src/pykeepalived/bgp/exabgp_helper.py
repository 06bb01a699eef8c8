"""The program ExaBGP runs for us (its process API): a relay between ExaBGP and the daemon.

ExaBGP is the parent of this helper and reads its commands from our stdout (``announce route
192.168.99.100/32 next-hop self``) and writes its answers to our stdin (``done``/``error``).
The daemon is ExaBGP's parent and listens on a Unix socket; we connect to it and copy lines
both ways. When the daemon's socket closes we exit (ExaBGP dies with the daemon anyway), and
when ExaBGP closes our stdin we exit too. Usage: ``python -m pykeepalived.bgp.exabgp_helper
SOCKET``.
"""

import socket
import sys
import threading


def _to_exabgp(sock: socket.socket) -> None:
    """Daemon -> ExaBGP: every line from the socket to our stdout, flushed at once."""
    with sock.makefile("r", encoding="utf-8", newline="\n") as lines:
        for line in lines:
            sys.stdout.write(line)
            sys.stdout.flush()


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: exabgp_helper SOCKET", file=sys.stderr)
        return 2
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(sys.argv[1])
    except OSError as exc:
        print(f"exabgp_helper: cannot reach the daemon at {sys.argv[1]}: {exc}", file=sys.stderr)
        return 1
    relay = threading.Thread(target=_to_exabgp, args=(sock,), daemon=True)
    relay.start()
    try:
        for line in sys.stdin:  # ExaBGP -> daemon ("done", "error", ...)
            sock.sendall(line.encode())
            if not relay.is_alive():
                break
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
