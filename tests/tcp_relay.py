"""A TCP relay on loopback that can be cut: a database outage without stopping the server.

The database server is shared by the whole test run, so an outage is made
between Balancer and it: ``cut()`` resets every relayed connection and stops
listening (new connections are refused, as from a stopped server); ``mend()``
listens again on the same port. ``freeze()`` is a partition instead: nothing passes
either way and new connections are taken in but never answered, until ``thaw()``
delivers what was held back.
"""
from __future__ import annotations

import select
import socket
import threading


class TcpRelay:
    """Relays 127.0.0.1:<port> to ``target``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._flowing = threading.Event()
        self._flowing.set()

    def __enter__(self) -> "TcpRelay":
        self.mend()
        return self

    def __exit__(self, *exc) -> None:
        self.cut()

    def mend(self) -> None:
        """Listen (again) and relay new connections."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def freeze(self) -> None:
        """Let nothing through, and answer no new connection, until ``thaw()``."""
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        self.thaw()  # the threads held by a freeze see the cut and end
        with self._lock:  # a connection being made now either is in _conns or sees the cut
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            # close() alone leaves a socket listening while another thread is blocked in
            # its accept(): connections would still be taken in. shutdown() stops the
            # listening and wakes that accept(), so connections are refused from now on.
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        for conn in conns:
            # close() alone ends the socket only once no thread uses it: a relaying thread
            # blocked in select() holds it open, unread, and a connection Balancer pooled
            # before the cut would wait on it for an answer. shutdown() ends it at once.
            try:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by cut()
            self._flowing.wait()  # frozen: taken in by the kernel, never answered
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    # Cut while this connection was being made: it must not outlive the
                    # cut (a database connection relayed on through the whole outage).
                    client.close()
                    upstream.close()
                    continue
                self._conns += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        socks = [a, b]
        try:
            while True:
                self._flowing.wait()
                readable, _, _ = select.select(socks, [], [], 1)
                if not readable or not self._flowing.is_set():
                    continue  # frozen meanwhile: what arrived waits in the kernel
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for s in socks:
                try:
                    s.close()
                except OSError:
                    pass
