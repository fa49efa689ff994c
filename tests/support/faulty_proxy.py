"""A TCP relay on loopback that injects registry faults, for push tests.

After the first `after` connections (relayed), the next `faults` connections
(-1: all of them) get a fault instead of the registry:
  "reset"  close with RST (the client sees "connection reset by peer")
  "503"    answer HTTP 503 Service Unavailable
  "401"    answer HTTP 401 with no way to authenticate (a permanent failure)
Later connections are relayed to the real registry byte for byte.
"""

from __future__ import annotations

import socket
import struct
import threading


class FaultyProxy:
    def __init__(self, upstream: tuple[str, int], fault: str, faults: int, after: int = 0) -> None:
        self.upstream = upstream
        self.after = after
        self.fault = fault
        self.remaining = faults
        self.injected = 0
        self.relayed = 0
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.5)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                inject = self.remaining != 0 and self.after <= 0
                self.after -= 1
                if inject:
                    self.remaining -= 1
                    self.injected += 1
                else:
                    self.relayed += 1
            threading.Thread(target=self._handle, args=(conn, inject), daemon=True).start()

    def _handle(self, conn: socket.socket, inject: bool) -> None:
        if inject:
            if self.fault == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                conn.settimeout(5)
                try:
                    conn.recv(65536)
                    status = {"503": "503 Service Unavailable", "401": "401 Unauthorized"}
                    body = (
                        b'{"errors":[{"code":"UNAUTHORIZED","message":"denied"}]}'
                        if self.fault == "401"
                        else b""
                    )
                    conn.sendall(
                        f"HTTP/1.1 {status[self.fault]}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                        + body
                    )
                except OSError:
                    pass
            conn.close()
            return
        try:
            up = socket.create_connection(self.upstream, timeout=30)
        except OSError:
            conn.close()
            return

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while chunk := src.recv(65536):
                    dst.sendall(chunk)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        t = threading.Thread(target=pump, args=(up, conn), daemon=True)
        t.start()
        pump(conn, up)
        t.join(timeout=30)
        conn.close()
        up.close()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
