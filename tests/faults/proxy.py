"""A small HTTP/1.1 relay on 127.0.0.1 that can lose replies: it forwards a request to the
real server, reads the whole reply, and then closes the client's connection instead of
answering (the server did the work; the client never hears of it). For issue 24 case 6."""

from __future__ import annotations

import socket
import threading


def _read_head(sock: socket.socket, buffer: bytearray) -> bytes | None:
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:end])
    del buffer[:end]
    return head


def _read_exact(sock: socket.socket, buffer: bytearray, size: int) -> bytes:
    while len(buffer) < size:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        buffer += chunk
    data = bytes(buffer[:size])
    del buffer[:size]
    return data


def _read_line(sock: socket.socket, buffer: bytearray) -> bytes:
    while b"\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-chunk")
        buffer += chunk
    end = buffer.index(b"\r\n") + 2
    line = bytes(buffer[:end])
    del buffer[:end]
    return line


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def _read_message(sock: socket.socket, buffer: bytearray) -> bytes | None:
    """One whole HTTP message (head and body: Content-Length or chunked)."""
    head = _read_head(sock, buffer)
    if head is None:
        return None
    length = _header(head, b"content-length")
    if length is not None:
        return head + _read_exact(sock, buffer, int(length))
    if (_header(head, b"transfer-encoding") or b"").lower() == b"chunked":
        body = b""
        while True:
            line = _read_line(sock, buffer)
            size = int(line.split(b";")[0].strip(), 16)
            body += line + _read_exact(sock, buffer, size + 2)
            if size == 0:
                return head + body
    return head


class LossyProxy:
    """Relay to ``127.0.0.1:target``; ``drop[path_part] = n``: lose the reply of the next ``n``
    requests whose request line contains ``path_part``. ``dropped`` counts the replies lost."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.drop: dict[str, int] = {}
        self.dropped = 0
        self.seen: list[str] = []
        self._lock = threading.Lock()
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _lose(self, request: bytes) -> bool:
        line = request.split(b"\r\n", 1)[0].decode("latin-1")
        with self._lock:
            self.seen.append(line)
            for part, left in self.drop.items():
                if left > 0 and part in line:
                    self.drop[part] = left - 1
                    self.dropped += 1
                    return True
        return False

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        inbox, outbox = bytearray(), bytearray()
        try:
            while True:
                request = _read_message(client, inbox)
                if request is None:
                    return
                if upstream is None:
                    upstream = socket.create_connection(("127.0.0.1", self.target), timeout=60)
                upstream.sendall(request)
                reply = _read_message(upstream, outbox)
                if reply is None:
                    return
                if self._lose(request):
                    return  # the server did it; the client never hears (connection dropped)
                client.sendall(reply)
        except (OSError, ValueError, ConnectionError):
            return
        finally:
            client.close()
            if upstream is not None:
                upstream.close()
