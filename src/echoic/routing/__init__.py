"""Hybrid local-first routing: the fallback chain, circuit breakers, retries (DESIGN.md §4)."""

from echoic.routing.breaker import BreakerConfig, BreakerState, CircuitBreaker
from echoic.routing.budget import PerTier, parse_per_tier
from echoic.routing.classify import Failure, classify
from echoic.routing.fallback import Router, RouterConfig, Tier
from echoic.routing.registry import Providers, ProvidersConfig, parse_chain, probe_machine
from echoic.routing.retry import RetryPolicy

__all__ = [
    "BreakerConfig",
    "BreakerState",
    "CircuitBreaker",
    "Failure",
    "PerTier",
    "Providers",
    "ProvidersConfig",
    "RetryPolicy",
    "Router",
    "RouterConfig",
    "Tier",
    "classify",
    "parse_chain",
    "parse_per_tier",
    "probe_machine",
]
