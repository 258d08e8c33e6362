"""Each tier's time budget: how long the router waits for one tier before it tries the next.

A tier's budget for one call is a base plus a part per second of audio, and either part may
differ by tier, so that a slow local final hands over to the cloud quickly without cutting the
cloud short (``ECHOIC_ROUTE_TIMEOUT_S=local=2,cloud=30``)::

    base = parse_per_tier("5,local=2", name="ECHOIC_ROUTE_TIMEOUT_S", default=10.0)
    base.value_for("local:cpu", "local")   # 2.0: the local tiers' own
    base.value_for("cloud", "cloud")       # 5.0: every tier not named

The text is entries separated by commas. A bare number is the value of every tier the text does
not name (without one, ``default``); ``TIER=NUMBER`` is a tier's own. A tier is ``local`` (every
local device), ``local:cpu``, ``local:cuda`` or ``cloud`` (``remote`` means the same), the
names ``ECHOIC_CHAIN`` uses; the most specific entry wins: ``local:cpu``, then ``local``, then
the bare number. Anything else is a :class:`~echoic.errors.ConfigurationError`: the server
refuses to start rather than guess.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from echoic.errors import ConfigurationError

#: The budget of a tier nothing else sets: 10 s, plus 0.5 s per second of audio.
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_TIMEOUT_PER_AUDIO_S = 0.5

#: What a per-tier entry may name (``ECHOIC_CHAIN``'s entries); ``remote`` is ``cloud``.
TIER_KEYS = ("local", "local:cpu", "local:cuda", "cloud")
_ALIASES = {"remote": "cloud"}


@dataclass(frozen=True)
class PerTier:
    """A number for every tier: ``default``, unless ``tiers`` has the tier's name (``local:cpu``)
    or its source (``local``, ``cloud``)."""

    default: float
    tiers: Mapping[str, float] = field(default_factory=dict)

    def value_for(self, tier: str, source: str) -> float:
        for key in (tier, source):
            if key in self.tiers:
                return self.tiers[key]
        return self.default


def parse_per_tier(text: str, *, name: str, default: float, allow_zero: bool = False) -> PerTier:
    """``"5,local=2,cloud=30"`` → ``PerTier(5.0, {"local": 2.0, "cloud": 30.0})``.

    ``name`` is the setting, for the error messages; ``allow_zero``: whether 0 is a valid value
    (a per-audio-second part may be 0, a base budget may not).
    """
    entries = [part.strip() for part in text.split(",")]
    if not any(entries):
        raise ConfigurationError(
            f"{name} is empty; give seconds for every tier (10) or per tier (local=2,cloud=30)"
        )
    bare: float | None = None
    tiers: dict[str, float] = {}
    for entry in entries:
        if not entry:
            raise ConfigurationError(f"{name}={text!r} has an empty entry between commas")
        key, equals, number = entry.partition("=")
        if not equals:
            if bare is not None:
                raise ConfigurationError(
                    f"{name}={text!r} gives two values for every tier; name the tier of one "
                    "(local=2)"
                )
            bare = _seconds(entry, name=name, allow_zero=allow_zero)
            continue
        tier = key.strip().lower()
        tier = _ALIASES.get(tier, tier)
        if tier not in TIER_KEYS:
            raise ConfigurationError(
                f"unknown tier {key.strip()!r} in {name}; use local, local:cpu, local:cuda or "
                "cloud (e.g. local=2,cloud=30)"
            )
        if tier in tiers:
            raise ConfigurationError(f"{name}={text!r} gives {tier} twice")
        tiers[tier] = _seconds(number.strip(), name=name, allow_zero=allow_zero)
    return PerTier(default=default if bare is None else bare, tiers=tiers)


def _seconds(text: str, *, name: str, allow_zero: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(f"{name}: {text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        least = "0 or more" if allow_zero else "more than 0"
        raise ConfigurationError(f"{name}: {text!r} is not a number of seconds {least}")
    return value
