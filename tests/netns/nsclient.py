"""The client side of the namespace tests, run inside the client namespace.

``python nsclient.py many <host> <port> <count> <first-source-port>``: ``count`` requests in
turn, each on a new connection bound to the next source port (fixed ports make a hash-based
spread reproducible run to run); prints a JSON list of the answers ("" for a failure).

``python nsclient.py udp <host> <port> <count> <first-source-port>``: one datagram from each
source port, the answer awaited for 2 s; prints a JSON list of the answers ("" for none).

``python nsclient.py slow <host> <port> <lines>``: one streaming request; prints the first
line as soon as it arrives, then a JSON summary: lines received, and whether the stream
ended cleanly.
"""

import json
import socket
import sys
import time

TIMEOUT_S = 3.0


def request(host: str, port: int, path: str, source_port: int = 0) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.settimeout(TIMEOUT_S)
    if source_port:
        sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", source_port))
    sock.connect((host, port))
    sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
    return sock


def many(host: str, port: int, count: int, first_port: int) -> None:
    answers = []
    for n in range(count):
        try:
            with request(host, port, "/", first_port + n) as sock:
                data = b""
                while chunk := sock.recv(4096):
                    data += chunk
            answers.append(data.partition(b"\r\n\r\n")[2].decode())
        except OSError:
            answers.append("")
    print(json.dumps(answers), flush=True)


def udp(host: str, port: int, count: int, first_port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    answers = []
    for n in range(count):
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(2.0)
            sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", first_port + n))
            sock.connect((host, port))  # only answers from the VIP itself are taken
            try:
                sock.send(b"who")
                answers.append(sock.recv(512).decode())
            except OSError:
                answers.append("")
    print(json.dumps(answers), flush=True)


def slow(host: str, port: int, lines: int) -> None:
    received = 0
    clean = False
    started = time.monotonic()
    try:
        with request(host, port, f"/slow?n={lines}") as sock, sock.makefile("rb") as stream:
            while line := stream.readline():
                if line.strip() and not line.startswith(b"HTTP/") and b":" not in line:
                    if received == 0:
                        print(line.decode().strip(), flush=True)
                    received += 1
            clean = True
    except OSError as e:
        print(f"error {e}", file=sys.stderr, flush=True)
    elapsed = time.monotonic() - started
    print(json.dumps({"lines": received, "clean": clean, "elapsed_s": elapsed}), flush=True)


if __name__ == "__main__":
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "many":
        many(host, port, int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "udp":
        udp(host, port, int(sys.argv[4]), int(sys.argv[5]))
    else:
        slow(host, port, int(sys.argv[4]))
