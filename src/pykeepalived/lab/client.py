"""The lab's client: requests through the VIP, run inside the client namespace.

``python -m pykeepalived.lab.client --vip 192.168.88.100 --count 20`` prints one JSON object:
the answers (each web node's address, or "" for a failed request) in order.
"""

import argparse
import json
import socket

TIMEOUT_S = 1.0


def get(host: str, port: int) -> str:
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
            return body(sock, host)
    except OSError:
        return ""


def body(sock: socket.socket, host: str) -> str:
    """One HTTP/1.0 GET / on a connected socket: the answer's body (the web node's address)."""
    sock.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data.partition(b"\r\n\r\n")[2].decode(errors="replace").strip()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--vip", required=True)
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--count", type=int, default=20)
    args = p.parse_args()
    answers = [get(args.vip, args.port) for _ in range(max(1, min(args.count, 10_000)))]
    print(json.dumps({"answers": answers}))


if __name__ == "__main__":
    main()
