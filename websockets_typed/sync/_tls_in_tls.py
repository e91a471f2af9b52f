"""TLS inside TLS over one TCP socket: ``wss://`` through an ``https://`` proxy.

:class:`ssl.SSLSocket` only wraps a plain socket: wrapping one would encrypt
with the outer session and send the result around it. So when the tunnel to
the server itself runs over TLS to the proxy, :class:`TLSInTLSSocket` runs
both sessions in memory (:meth:`ssl.SSLContext.wrap_bio`) on top of the TCP
socket whose file descriptor it takes over: bytes sent go through the
server's session, then the proxy's, then TCP; bytes received go the other
way.

It behaves as :class:`ssl.SSLSocket` does where the threading connection
relies on it:

* blocking, or with a timeout, during the ``CONNECT`` request and the
  handshakes (the timeout bounds each wait for the network);
* non-blocking once a connection owns it: :meth:`~TLSInTLSSocket.recv`
  raises :exc:`ssl.SSLWantReadError` only after reading the socket until it
  was empty, so that waiting for it to become readable waits for new bytes;
  :meth:`~TLSInTLSSocket.send` raises :exc:`ssl.SSLWantWriteError` while
  the encrypted bytes of the data it took don't all fit in the kernel's
  buffer, and must then be called again with the same data, as OpenSSL
  requires. So it never buffers more than one write of its own;
* not safe to call from two threads at once: the connection holds its TLS
  lock around every call, as it does for OpenSSL;
* shutting down or closing acts on TCP (the connection half-closes TCP
  after its Close frame, and aborts by shutting TCP down);
* :meth:`~TLSInTLSSocket.getpeercert`, :meth:`~TLSInTLSSocket.cipher` and
  :meth:`~TLSInTLSSocket.version` describe the server's session.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Mapping
from typing import Literal, NoReturn, TypeVar, overload

from typing_extensions import Buffer

__all__ = ["TLSInTLSSocket"]

_T = TypeVar("_T")

# Bytes read from the TCP socket, or from a TLS session, at once.
_RECV_BUFSIZE = 65536

# Bytes encrypted by one call to send(), so that a large message isn't
# encrypted into memory all at once.
_MAX_WRITE = 262144


class _Session:
    """A TLS session in memory: what arrives goes into ``incoming``, what
    it sends comes out of ``outgoing``."""

    def __init__(self, context: ssl.SSLContext, server_hostname: str) -> None:
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=server_hostname)


class TLSInTLSSocket(socket.socket):
    """A TCP socket whose bytes go through stacked TLS sessions.

    Build it from a connected TCP socket, whose file descriptor it takes
    over, then call :meth:`add_tls` once per session: first the proxy's,
    then, once the proxy opened the tunnel, the server's.
    """

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock.family, sock.type, sock.proto, fileno=sock.fileno())
        self.settimeout(sock.gettimeout())
        sock.detach()
        # Outermost first: sessions[0] talks to the proxy.
        self._sessions: list[_Session] = []
        # Encrypted bytes for TCP that the kernel didn't take yet.
        self._unsent = bytearray()
        # How many bytes the pending send() took, until they're all sent.
        self._taken: int | None = None

    def add_tls(self, context: ssl.SSLContext, server_hostname: str) -> None:
        """Start a TLS session inside the current ones; perform its handshake.

        Raises:
            ssl.SSLError: If the handshake fails, e.g. the certificate
                doesn't verify (:exc:`ssl.SSLCertVerificationError`).
            TimeoutError: If the socket's timeout expires.
        """
        session = _Session(context, server_hostname)
        self._sessions.append(session)
        self._call(len(self._sessions) - 1, session.tls.do_handshake)

    # What the connection uses.

    def recv(self, bufsize: int, flags: int = 0, /) -> bytes:
        """Receive up to ``bufsize`` decrypted bytes; ``b""`` at the end of the stream.

        An end of the stream without TLS's ``close_notify`` counts as an
        end, as :class:`ssl.SSLSocket` does by default: WebSocket's closing
        handshake tells a complete connection from a truncated one.
        """
        _check_flags(flags)
        return self._read(len(self._sessions) - 1, bufsize)

    def recv_into(self, buffer: Buffer, nbytes: int = 0, flags: int = 0) -> int:
        """Receive decrypted bytes into ``buffer``; return how many."""
        with memoryview(buffer) as view, view.cast("B") as target:
            if nbytes > len(target):
                raise ValueError("buffer too small for requested bytes")
            data = self.recv(nbytes or len(target), flags)
            target[: len(data)] = data
        return len(data)

    def send(self, data: Buffer, flags: int = 0, /) -> int:
        """Encrypt and send some of ``data``; return how many bytes were taken.

        Raises:
            ssl.SSLWantWriteError: On a non-blocking socket, while the
                kernel's buffer is full; call again with the same data.
        """
        _check_flags(flags)
        if self._taken is None:
            with memoryview(data) as view, view.cast("B") as chunk:
                self._sessions[-1].tls.write(chunk[:_MAX_WRITE])
                self._taken = min(len(chunk), _MAX_WRITE)
        if not self._flush():
            raise ssl.SSLWantWriteError(ssl.SSL_ERROR_WANT_WRITE, "the socket's buffer is full")
        taken, self._taken = self._taken, None
        return taken

    def sendall(self, data: Buffer, flags: int = 0, /) -> None:
        """Encrypt and send all of ``data`` (blocking sockets)."""
        with memoryview(data) as view, view.cast("B") as chunk:
            sent = 0
            while sent < len(chunk):
                sent += self.send(chunk[sent:], flags)

    # The server's session, as on ssl.SSLSocket.

    @overload
    def getpeercert(self, binary_form: Literal[False] = False) -> Mapping[str, object] | None: ...

    @overload
    def getpeercert(self, binary_form: Literal[True]) -> bytes | None: ...

    def getpeercert(self, binary_form: bool = False) -> Mapping[str, object] | bytes | None:
        """The certificate of the innermost session's peer (the server)."""
        return self._sessions[-1].tls.getpeercert(binary_form)

    def cipher(self) -> tuple[str, str, int] | None:
        """The cipher of the innermost session: name, protocol, secret bits."""
        return self._sessions[-1].tls.cipher()

    def version(self) -> str | None:
        """The TLS version of the innermost session, e.g. ``"TLSv1.3"``."""
        return self._sessions[-1].tls.version()

    # What would bypass TLS.

    def dup(self) -> NoReturn:
        """Not supported: a copy wouldn't share the TLS sessions."""
        raise NotImplementedError(f"can't dup() {type(self).__name__} instances")

    def sendfile(self, *args: object, **kwargs: object) -> NoReturn:
        """Not supported: the file's bytes would bypass TLS."""
        raise NotImplementedError(f"sendfile() isn't supported on {type(self).__name__}")

    def recvmsg(self, *args: object, **kwargs: object) -> NoReturn:
        """Not supported, as on :class:`ssl.SSLSocket`."""
        raise NotImplementedError(f"recvmsg() isn't supported on {type(self).__name__}")

    def sendmsg(self, *args: object, **kwargs: object) -> NoReturn:
        """Not supported, as on :class:`ssl.SSLSocket`."""
        raise NotImplementedError(f"sendmsg() isn't supported on {type(self).__name__}")

    # The sessions.

    def _read(self, depth: int, size: int) -> bytes:
        """Decrypted bytes from the session at ``depth`` (0: the outermost)."""
        try:
            return self._call(depth, lambda: self._sessions[depth].tls.read(size))
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            # close_notify, or the stream under the session ended.
            return b""

    def _call(self, depth: int, operation: Callable[[], _T]) -> _T:
        """Run ``operation`` on the session at ``depth``, feeding it what it reads.

        Raises:
            ssl.SSLWantReadError: On a non-blocking socket, when the session
                needs bytes and the TCP socket has none.
        """
        session = self._sessions[depth]
        while True:
            try:
                return operation()
            except ssl.SSLWantReadError:
                pass
            finally:
                # Handshake messages, alerts, answers to key updates.
                self._flush()
            data = self._read(depth - 1, _RECV_BUFSIZE) if depth else self._recv_tcp()
            if data:
                session.incoming.write(data)
            else:
                session.incoming.write_eof()

    def _recv_tcp(self) -> bytes:
        try:
            return super().recv(_RECV_BUFSIZE)
        except BlockingIOError:
            raise ssl.SSLWantReadError(ssl.SSL_ERROR_WANT_READ, "no data on the socket") from None

    def _flush(self) -> bool:
        """Pass what each session sends to the one below; send what leaves the outermost.

        Returns whether the kernel took every byte. A blocking socket waits
        until it does (or raises :exc:`TimeoutError`).
        """
        for depth in range(len(self._sessions) - 1, -1, -1):
            data = self._sessions[depth].outgoing.read()
            if data:
                if depth:
                    self._sessions[depth - 1].tls.write(data)
                else:
                    self._unsent += data
        while self._unsent:
            try:
                sent = super().send(self._unsent)
            except BlockingIOError:
                return False
            del self._unsent[:sent]
        return True


def _check_flags(flags: int) -> None:
    if flags:
        raise ValueError("non-zero flags aren't allowed on a TLS socket")
