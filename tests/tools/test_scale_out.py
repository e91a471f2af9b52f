"""Scale out, the light version: 4 worker processes, a Redis bus, hundreds of clients.

``tests/scale_out.py`` runs the heavy version on demand (2,000 clients,
1,000 messages); this runs the same code with smaller numbers, including
the Redis restart halfway.
"""

from __future__ import annotations

from scale_out import run


async def test_every_client_receives_every_message_once_in_order() -> None:
    result = await run(workers=4, clients_count=200, messages=200, client_processes=1)
    # The kernel spread the connections over the four processes sharing the
    # port (each client learnt its worker's pid; run() checks they agree).
    assert len(result.connections_per_worker) == 4
    assert all(result.connections_per_worker), result.connections_per_worker
    assert sum(result.connections_per_worker) == 200
    # Every message reached every client, before and after Redis restarted:
    # run() checks each delivery (order per publisher, type, no duplicate).
    assert result.deliveries == 200 * 200
    assert len(result.seconds_per_phase) == 2
    assert result.bytes_per_connection > 0
    assert "deliveries per second" in result.report()
