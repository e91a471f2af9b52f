"""Waking a task without a loop iteration: a future-compatible object, and a Future's way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from contextvars import Context

__all__ = ["Waiter", "wake_future"]


class Waiter:
    """What the opening handshake and the wait for the end of a connection await.

    A future-compatible object (:func:`asyncio.isfuture` holds): a task
    awaits it as it awaits an :class:`asyncio.Future`, and cancelling the
    task cancels it. The difference is in :meth:`wake`: a Future always
    wakes its task through the event loop (``call_soon``, then one more loop
    iteration, with its own poll of the selector), while :meth:`wake` may
    step the task at once, from the protocol callback that received the
    message. That iteration is on the critical path of every round trip
    (bench/run.py, S1 and C1). Connections use it on asyncio's own event
    loops only: uvloop runs a woken task in the same iteration anyway, and
    its Futures cost fewer instructions (see ``Assembler(wake_in_step=...)``).

    One task at a time awaits it, so it keeps one callback; it can be
    reused from one wait to the next (:meth:`reset`). Tasks find the loop
    in ``_loop`` when there is no ``get_loop()``: one call less per wait.
    :meth:`Assembler.get`, which waits once per message, awaits a Future
    woken by :func:`wake_future` instead: cheaper for a task.
    """

    __slots__ = (
        "_asyncio_future_blocking",
        "_callback",
        "_cancel_message",
        "_context",
        "_loop",
        "state",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._asyncio_future_blocking = False
        self._callback: Callable[[Waiter], object] | None = None
        self._context: Context | None = None
        # None: pending; True: woken; False: cancelled. Public, for the
        # assembler's hot path: a property would cost a call.
        self.state: bool | None = None
        self._cancel_message: object = None

    @property
    def awaited(self) -> bool:
        """Whether a task awaits the waiter, i.e. waking it steps a task."""
        return self._callback is not None

    def done(self) -> bool:
        return self.state is not None

    def reset(self) -> None:
        """Make the waiter pending again, for the next wait."""
        self.state = None
        self._cancel_message = None

    def result(self) -> None:
        if self.state is None:
            raise asyncio.InvalidStateError("result is not ready")
        if self.state is False:
            message = self._cancel_message
            raise asyncio.CancelledError() if message is None else asyncio.CancelledError(message)

    def add_done_callback(
        self, callback: Callable[[Waiter], object], *, context: Context | None = None
    ) -> None:
        # A task adds its callback when the waiter is pending, as it awaits it.
        assert self.state is None, "the waiter is done"
        assert self._callback is None, "one waiting task at a time"
        self._callback = callback
        self._context = context

    def cancel(self, msg: object = None) -> bool:
        if self.state is not None:
            return False
        self.state = False
        self._cancel_message = msg
        self._schedule()
        return True

    def set_result(self, result: None = None) -> None:
        """Mark the waiter done and wake its task through the event loop.

        Once the waiter is done, it does nothing: the waiter may have been
        cancelled meanwhile.
        """
        if self.state is not None:
            return
        self.state = True
        self._schedule()

    def _schedule(self) -> None:
        callback = self._callback
        if callback is not None:
            self._callback = None
            self._loop.call_soon(callback, self, context=self._context)

    def wake(self, outside_task: bool = False) -> None:
        """Mark the waiter done and wake its task now if no task is running.

        Inside a task (e.g. recv() parsing frames it held back), stepping
        another one would fail: the wake-up goes through the loop then.
        ``outside_task=True`` says that no task is running, as in a
        transport's callback, and saves checking (on Python 3.11,
        :func:`asyncio.current_task` costs about 1,200 instructions;
        bench/run.py --callgrind, S1). Once the waiter is done, it does
        nothing.
        """
        if self.state is not None:
            return
        self.state = True
        callback = self._callback
        if callback is None:
            return
        if not outside_task and asyncio.current_task(self._loop) is not None:
            self._schedule()
            return
        self._callback = None
        context = self._context
        # What asyncio.Handle._run does with a callback.
        try:
            if context is None:
                callback(self)
            else:
                context.run(callback, self)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler(
                {"message": f"Exception in callback {callback!r}", "exception": exc}
            )

    def __await__(self) -> Generator[Waiter, None, None]:
        if self.state is None:
            self._asyncio_future_blocking = True
            yield self
        if self.state is not True:
            self.result()


def wake_future(future: asyncio.Future[None], outside_task: bool = False) -> None:
    """Mark a pending future done and run its task's wake-up now if no task is running.

    What :meth:`Waiter.wake` does, for an :class:`asyncio.Future` awaited by
    a task: the task's wake-up is taken off the future, which then has no
    callback for the loop to schedule, and run here, in this step. A task
    handles an exact Future in C (``add_done_callback``, ``result``)
    where it calls a Waiter's methods in Python: about 1,700 instructions
    fewer per message than a Waiter, the Future's allocation included
    (bench/run.py --callgrind, S1 and C1). ``outside_task`` as in
    :meth:`Waiter.wake`. With more or fewer than one callback, or inside a
    task, the future wakes its callbacks through the loop, as usual. Once
    the future is done, it does nothing.
    """
    if future.done():
        return
    if outside_task or asyncio.current_task(future.get_loop()) is None:
        try:
            # A list of (callback, context), or None; one item, unpacked
            # without checking its length first. A Future without that
            # private attribute (another Python) wakes through the loop.
            ((callback, context),) = future._callbacks
        except (TypeError, ValueError, AttributeError):  # no callback, or more than one
            pass
        else:
            future.remove_done_callback(callback)
            future.set_result(None)
            # What asyncio.Handle._run does with a callback.
            try:
                context.run(callback, future)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                future.get_loop().call_exception_handler(
                    {"message": f"Exception in callback {callback!r}", "exception": exc}
                )
            return
    future.set_result(None)
