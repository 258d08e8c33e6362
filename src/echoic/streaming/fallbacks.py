"""``fallback`` events: every tier skipped on the way to a result is reported, never silent
(DESIGN.md §2). A stream's confirmations, its finals and its client transcripts that came too
late all report them the same way.
"""

from __future__ import annotations

from echoic.streaming.decoding import Output
from echoic.streaming.events import EventStamper, EventType
from echoic.streaming.utterance import Utterance
from echoic.types import Fallback


def fallback_events(
    stamp: EventStamper, utterance: Utterance, skips: tuple[Fallback, ...] | None, now: float
) -> Output:
    """``fallback`` events for the tiers skipped on the way to a result: never silent."""
    out = Output()
    for skip in skips or ():
        utterance.fallback_strategy = f"{skip.from_tier}->{skip.to_tier or 'none'}"
        out.events.append(
            stamp(
                EventType.FALLBACK,
                now,
                utterance_id=utterance.id,
                **skip.to_dict(),
            )
        )
    return out
