"""Per-tier time budgets: how ``ECHOIC_ROUTE_TIMEOUT_S`` and ``…_PER_AUDIO_S`` read
(:mod:`echoic.routing.budget`), and the budget each tier gets from a :class:`RouterConfig`."""

from __future__ import annotations

import pytest

from echoic.engines.scripted import ScriptedEngine
from echoic.errors import ConfigurationError
from echoic.routing import PerTier, RouterConfig, Tier, parse_per_tier

NAME = "ECHOIC_ROUTE_TIMEOUT_S"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10", PerTier(10.0)),
        ("2.5", PerTier(2.5)),
        (" 7 ", PerTier(7.0)),
        ("local=2,cloud=30", PerTier(10.0, {"local": 2.0, "cloud": 30.0})),
        ("local=2", PerTier(10.0, {"local": 2.0})),
        ("5,local=2", PerTier(5.0, {"local": 2.0})),
        ("local=2, 5", PerTier(5.0, {"local": 2.0})),
        (" local = 2 , cloud = 30 ", PerTier(10.0, {"local": 2.0, "cloud": 30.0})),
        ("remote=30", PerTier(10.0, {"cloud": 30.0})),
        ("LOCAL:CPU=1,Cloud=20", PerTier(10.0, {"local:cpu": 1.0, "cloud": 20.0})),
        (
            "local=3,local:cuda=0.5,local:cpu=4",
            PerTier(10.0, {"local": 3.0, "local:cuda": 0.5, "local:cpu": 4.0}),
        ),
        ("1e1", PerTier(10.0)),
    ],
)
def test_budgets_parse(text: str, expected: PerTier) -> None:
    assert parse_per_tier(text, name=NAME, default=10.0) == expected


@pytest.mark.parametrize(
    ("text", "allow_zero", "message"),
    [
        ("", False, "ECHOIC_ROUTE_TIMEOUT_S is empty"),
        (" , ", False, "ECHOIC_ROUTE_TIMEOUT_S is empty"),
        ("5,", False, "has an empty entry between commas"),
        ("local=2,,cloud=3", False, "has an empty entry between commas"),
        ("fast", False, "'fast' is not a number of seconds"),
        ("local=", False, "'' is not a number of seconds"),
        ("local=two", False, "'two' is not a number of seconds"),
        ("gpu=2", False, "unknown tier 'gpu' in ECHOIC_ROUTE_TIMEOUT_S; use local, local:cpu"),
        ("=2", False, "unknown tier ''"),
        ("local:tpu=2", False, "unknown tier 'local:tpu'"),
        ("local=2,local=3", False, "gives local twice"),
        ("cloud=2,remote=3", False, "gives cloud twice"),
        ("5,6", False, "gives two values for every tier"),
        ("0", False, "'0' is not a number of seconds more than 0"),
        ("local=0", False, "'0' is not a number of seconds more than 0"),
        ("-1", True, "'-1' is not a number of seconds 0 or more"),
        ("nan", True, "'nan' is not a number of seconds 0 or more"),
        ("inf", False, "'inf' is not a number of seconds more than 0"),
    ],
)
def test_bad_budgets_are_configuration_errors(text: str, allow_zero: bool, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_per_tier(text, name=NAME, default=10.0, allow_zero=allow_zero)
    assert message in raised.value.message


def test_zero_is_a_valid_per_audio_part() -> None:
    parsed = parse_per_tier("0,cloud=0.5", name=NAME, default=0.5, allow_zero=True)
    assert parsed == PerTier(0.0, {"cloud": 0.5})


@pytest.mark.parametrize(
    ("tiers", "tier", "source", "expected"),
    [
        ({}, "local:cpu", "local", 5.0),
        ({"local": 2.0}, "local:cpu", "local", 2.0),
        ({"local": 2.0}, "local:cuda", "local", 2.0),
        ({"local": 2.0}, "cloud", "cloud", 5.0),
        ({"local": 2.0, "local:cuda": 0.5}, "local:cuda", "local", 0.5),
        ({"local": 2.0, "local:cuda": 0.5}, "local:cpu", "local", 2.0),
        ({"cloud": 30.0}, "cloud", "cloud", 30.0),
        ({"cloud": 30.0}, "", "", 5.0),
    ],
)
def test_the_most_specific_entry_wins(
    tiers: dict[str, float], tier: str, source: str, expected: float
) -> None:
    assert PerTier(5.0, tiers).value_for(tier, source) == expected


def tier(name: str, source: str) -> Tier:
    return Tier(name=name, source=source, engine=ScriptedEngine())


@pytest.mark.parametrize(
    ("config", "audio_s", "local_s", "cloud_s"),
    [
        (RouterConfig(), 0, 10.0, 10.0),
        (RouterConfig(), 60, 40.0, 40.0),
        (RouterConfig(timeout_s=PerTier(10.0, {"local": 2.0, "cloud": 30.0})), 0, 2.0, 30.0),
        (
            RouterConfig(
                timeout_s=PerTier(10.0, {"local": 2.0, "cloud": 30.0}),
                timeout_per_audio_s=PerTier(0.5, {"local": 0.1}),
            ),
            10,
            3.0,
            35.0,
        ),
        (RouterConfig(timeout_s=1.0, timeout_per_audio_s=PerTier(0.0, {"cloud": 1.0})), 8, 1, 9),
    ],
)
def test_each_tier_gets_its_own_budget(
    config: RouterConfig, audio_s: float, local_s: float, cloud_s: float
) -> None:
    assert config.timeout_for(audio_s, tier("local:cpu", "local")) == local_s
    assert config.timeout_for(audio_s, tier("cloud", "cloud")) == cloud_s
