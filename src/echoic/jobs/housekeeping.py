"""What a server or worker does now and then: return jobs whose lease expired to the queue (a
claim does it too, but an idle fleet should still show them as queued), and delete audio whose
retention ran out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from echoic.storage.store import Store

log = logging.getLogger(__name__)

INTERVAL_S = 60.0


async def housekeeping(
    store: Store,
    stop: asyncio.Event,
    *,
    interval_s: float = INTERVAL_S,
    clock: Callable[[], float] = time.time,
) -> None:
    while not stop.is_set():
        try:
            requeued = await asyncio.to_thread(store.leases.requeue_expired, now=clock())
            deleted = await asyncio.to_thread(store.media.sweep, clock())
            if requeued or deleted:
                log.info(
                    "housekeeping", extra={"jobs_requeued": requeued, "audio_deleted": deleted}
                )
        except Exception:  # the database is away for now: try again next time
            log.exception("housekeeping failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
