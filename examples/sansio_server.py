"""An echo server on a plain blocking socket, driving the sans-I/O core by hand.

The protocol object never touches the network: the loop below reads bytes,
feeds them to it, acts on the events it returns and writes the bytes it
asks to send. That is all an I/O layer does, whatever the I/O framework.
Run it, then ``python examples/echo_client.py``::

    python examples/sansio_server.py

It serves one connection at a time on 127.0.0.1, port 8765 or the ``PORT``
environment variable. Ctrl-C stops it.
"""

import os
import signal
import socket

from websockets_typed import SEND_EOF, CloseCode, Frame, Opcode, Request, ServerProtocol, State

PORT = int(os.environ.get("PORT", "8765"))
CLOSE_TIMEOUT = 10  # seconds to wait for the client to close once closing


def send_pending(sock: socket.socket, protocol: ServerProtocol) -> None:
    """Write what the protocol wants to send; SEND_EOF means: half-close."""
    for data in protocol.data_to_send():
        if data == SEND_EOF:
            sock.shutdown(socket.SHUT_WR)
        else:
            sock.sendall(data)


def handle(sock: socket.socket, protocol: ServerProtocol) -> None:
    """Run one connection until the TCP connection closes."""
    while protocol.state is not State.CLOSED:
        if protocol.close_expected():
            # Closing: the client should close the TCP connection soon.
            sock.settimeout(CLOSE_TIMEOUT)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        for event in protocol.events_received():
            match event:
                case Request():
                    # A real server would check the path, the origin... here.
                    protocol.send_response(protocol.accept(event))
                case Frame(opcode=Opcode.TEXT, data=payload, fin=fin):
                    protocol.send_text(payload, fin)
                case Frame(opcode=Opcode.BINARY, data=payload, fin=fin):
                    protocol.send_binary(payload, fin)
                case Frame(opcode=Opcode.CONT, data=payload, fin=fin):
                    protocol.send_continuation(payload, fin)
                case _:
                    pass  # the protocol answers pings and Close frames by itself
        send_pending(sock, protocol)


def main() -> None:
    """Accept connections one by one until Ctrl-C or SIGTERM."""
    # Stop on SIGTERM as on Ctrl-C: with KeyboardInterrupt.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with socket.create_server(("127.0.0.1", PORT)) as server:
        try:
            while True:
                sock, _ = server.accept()
                with sock:
                    protocol = ServerProtocol()
                    try:
                        handle(sock, protocol)
                    except KeyboardInterrupt:
                        if protocol.state is State.OPEN:
                            # Tell the client, like the asyncio server does.
                            protocol.send_close(CloseCode.GOING_AWAY)
                            send_pending(sock, protocol)
                        raise
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
