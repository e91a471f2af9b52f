"""Reassembly of incoming frames into messages, for threads, with a bounded queue."""

from __future__ import annotations

import codecs
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Final, Literal, overload

from ..exceptions import ConcurrencyError
from ..frames import Frame, Opcode
from ..typing import Data

__all__ = ["Assembler"]

_UTF8_DECODER: Final = codecs.getincrementaldecoder("utf-8")


class Assembler:
    """Queue incoming data frames and hand them out as messages, across threads.

    The thread that reads the network calls :meth:`put`; the application's
    thread calls :meth:`get` or :meth:`get_iter`, which block until a message
    (or a fragment) is available. The queue holds frames, so a message larger
    than the queue can still be received. When it holds ``high`` frames,
    :meth:`wait_for_room` blocks the reading thread until it falls to ``low``:
    the peer then sees TCP backpressure.

    Args:
        high: Queue length that stops reading; ``None`` for no limit.
        low: Queue length that resumes reading; defaults to ``high // 4``.
    """

    def __init__(self, high: int | None = None, low: int | None = None) -> None:
        if high is not None and low is None:
            low = high // 4
        if high is not None and low is not None and not 0 <= low <= high:
            raise ValueError("low must be between 0 and high")
        self.high = high
        self.low = low
        self._frames: deque[Frame] = deque()
        # Number of frames in the queue that end a message.
        self._complete = 0
        self._cond = threading.Condition(threading.Lock())
        self._paused = False
        self._get_in_progress = False
        self._closed = False

    def __len__(self) -> int:
        """Number of frames waiting in the queue."""
        return len(self._frames)

    # Producer side: the connection's reading thread.

    def put(self, frame: Frame) -> None:
        """Queue a data frame received from the network.

        Raises:
            EOFError: If the assembler is closed.
        """
        with self._cond:
            if self._closed:
                raise EOFError("stream of frames ended")
            self._frames.append(frame)
            if frame.fin:
                self._complete += 1
            if self.high is not None and len(self._frames) >= self.high:
                self._paused = True
            self._cond.notify()

    def wait_for_room(self) -> None:
        """Block while the queue is full, until it drains to ``low`` or closes."""
        # Only the reading thread sets _paused: if it's unset, there is no
        # need to take the lock (the hot path, once per read).
        if not self._paused:
            return
        with self._cond:
            while self._paused and not self._closed:
                self._cond.wait()

    def stop_pausing(self) -> None:
        """Let the reading thread read without limit from now on, e.g. when closing.

        The closing handshake must be read even if the application stopped
        receiving messages.
        """
        with self._cond:
            self.high = None
            self._paused = False
            self._cond.notify_all()

    def close(self) -> None:
        """End the stream: waiting calls return what is queued, then raise :exc:`EOFError`."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # Consumer side: the application's thread.

    def _take(self) -> Frame:
        """Pop the next frame; the lock is held."""
        frame = self._frames.popleft()
        if frame.fin:
            self._complete -= 1
        if self._paused and self.low is not None and len(self._frames) <= self.low:
            self._paused = False
            self._cond.notify_all()
        return frame

    def _start_get(self) -> None:
        if self._get_in_progress:
            raise ConcurrencyError("get() or get_iter() is already running")
        self._get_in_progress = True

    def _wait(self, timeout: float | None) -> None:
        """Wait until a message is complete or the stream ends; the lock is held."""
        if timeout is None:
            while not self._complete and not self._closed:
                self._cond.wait()
        else:
            deadline = time.monotonic() + timeout
            while not self._complete and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)

    @overload
    def get(self, timeout: float | None, decode: Literal[True]) -> str: ...

    @overload
    def get(self, timeout: float | None, decode: Literal[False]) -> bytes: ...

    @overload
    def get(self, timeout: float | None = None, decode: bool | None = None) -> Data: ...

    def get(self, timeout: float | None = None, decode: bool | None = None) -> Data:
        """Wait for the next complete message and return it.

        Raises:
            EOFError: If the stream ended before a complete message.
            TimeoutError: If no message arrived within ``timeout`` seconds;
                nothing is lost, the next call returns it.
            ConcurrencyError: If another thread is in :meth:`get` or :meth:`get_iter`.
            UnicodeDecodeError: If a text message isn't valid UTF-8.
        """
        with self._cond:
            self._start_get()
            try:
                if not self._complete and not self._closed:
                    self._wait(timeout)
                if not self._complete:
                    if self._closed:
                        raise EOFError("stream of frames ended")
                    raise TimeoutError(f"timed out after {timeout} seconds")
                frame = self._take()
                if frame.fin:
                    data = frame.data
                else:
                    chunks = [frame.data]
                    while True:
                        fragment = self._take()
                        chunks.append(fragment.data)
                        if fragment.fin:
                            break
                    data = b"".join(chunks)
            finally:
                self._get_in_progress = False
        is_text = frame.opcode is Opcode.TEXT
        if decode is None:
            decode = is_text
        # A text message's UTF-8 was validated as it arrived.
        return data.decode() if decode else data

    @overload
    def get_iter(self, decode: Literal[True]) -> Iterator[str]: ...

    @overload
    def get_iter(self, decode: Literal[False]) -> Iterator[bytes]: ...

    @overload
    def get_iter(self, decode: bool | None = None) -> Iterator[Data]: ...

    def get_iter(self, decode: bool | None = None) -> Iterator[Data]:
        """Yield the fragments of the next message as they arrive.

        Raises:
            EOFError: If the stream ended before the end of the message.
            ConcurrencyError: If another thread is in :meth:`get` or :meth:`get_iter`.
            UnicodeDecodeError: If a text message isn't valid UTF-8.
        """
        with self._cond:
            self._start_get()
        try:
            decoder: codecs.IncrementalDecoder | None = None
            started = False
            fin = False
            while not fin:
                with self._cond:
                    self._cond.wait_for(lambda: self._frames or self._closed)
                    if not self._frames:
                        raise EOFError("stream of frames ended")
                    frame = self._take()
                if not started:
                    started = True
                    if decode is None:
                        decode = frame.opcode is Opcode.TEXT
                    decoder = _UTF8_DECODER() if decode else None
                fin = frame.fin
                if decoder is not None:
                    yield decoder.decode(frame.data, fin)
                else:
                    yield frame.data
        finally:
            with self._cond:
                self._get_in_progress = False
