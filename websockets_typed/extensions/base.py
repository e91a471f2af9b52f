"""The interfaces that WebSocket extensions implement (RFC 6455, section 9).

An extension is negotiated during the opening handshake by a *factory*: a
client factory offers parameters and checks the server's answer; a server
factory reads an offer and answers. The negotiated :class:`Extension` then
transforms every frame: :meth:`~Extension.encode` on the way out,
:meth:`~Extension.decode` on the way in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from ..frames import Frame
from ..typing import ExtensionName, ExtensionParameter

__all__ = ["ClientExtensionFactory", "Extension", "ServerExtensionFactory"]


class Extension(ABC):
    """A negotiated extension, applied to every frame of a connection."""

    name: ExtensionName
    """The extension's registered name."""

    @abstractmethod
    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Transform a frame received from the network.

        Args:
            frame: The frame as parsed, reserved bits included.
            max_size: How many more bytes of payload the current message may
                hold once decoded, or ``None`` for no limit.

        Raises:
            PayloadTooBig: If the decoded payload would exceed ``max_size``.
            ProtocolError: If the frame is not valid for this extension.
        """

    @abstractmethod
    def encode(self, frame: Frame) -> Frame:
        """Transform a frame about to be sent to the network."""


class ClientExtensionFactory(ABC):
    """The client side of an extension's negotiation."""

    name: ExtensionName
    """The extension's registered name."""

    @abstractmethod
    def get_request_params(self) -> list[ExtensionParameter]:
        """Return the parameters to offer in the handshake request."""

    @abstractmethod
    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> Extension:
        """Build the extension from the parameters the server accepted.

        Args:
            params: The parameters in the server's response.
            accepted_extensions: Extensions accepted before this one.

        Raises:
            NegotiationError: If the response parameters are not acceptable.
        """


class ServerExtensionFactory(ABC):
    """The server side of an extension's negotiation."""

    name: ExtensionName
    """The extension's registered name."""

    @abstractmethod
    def process_request_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> tuple[list[ExtensionParameter], Extension]:
        """Answer one offer from the client.

        Args:
            params: The parameters of the offer.
            accepted_extensions: Extensions accepted before this one.

        Returns:
            The parameters to send back and the negotiated extension.

        Raises:
            NegotiationError: If this offer cannot be accepted; the server
                then tries the next offer, or goes on without the extension.
        """
