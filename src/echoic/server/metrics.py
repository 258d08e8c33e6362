"""Every Prometheus metric echoic exports, defined once (DESIGN.md §7).

Each app gets its own :class:`Metrics` with its own ``CollectorRegistry``; nothing is registered
in ``prometheus_client``'s global default registry, so two apps in one process (tests) never
share or clash over a counter.

Labels:

- ``endpoint``: ``transcriptions``, ``translations``, ``models``, ``stream`` (the WebSocket);
- ``source``: where a transcript came from: ``local``, ``cloud`` (the remote provider),
  ``client`` (handed in by a live-stream client), or ``none`` when no transcript was made;
- ``from`` / ``to``: routing tiers (``local:cpu``, ``local:cuda``, ``cloud``, ``client``;
  ``none`` when no tier was left) and ``reason`` why one was skipped (``timeout``, ``error``,
  ``circuit_open``, ``grace_expired``…);
- ``status``: the HTTP status code (``"200"``, ``"413"``…); for streams ``ok`` or ``error``;
- ``code``: an :class:`~echoic.errors.EchoicError` code (``file_too_large``…);
- ``queue``: ``rest:<model>`` (REST requests waiting for a model slot) or ``stream:<model>``
  (live-stream decode requests waiting in the model's scheduler).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from echoic.streaming.events import Event
from echoic.types import Fallback

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Request latencies: a 1 s clip on tiny.en takes ~0.3 s, a 2 h file minutes.
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
# Live-stream latencies: drafts aim at a few hundred milliseconds, finals at about a second.
_STREAM_BUCKETS = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)

QueueDepths = Callable[[], Mapping[str, int]]
DecodeCounts = Callable[[], Mapping[tuple[str, str], int]]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "echoic_stt_requests",
            "Transcription requests answered, by endpoint, transcript source and status.",
            ["endpoint", "source", "status"],
            registry=r,
        )
        self.errors = Counter(
            "echoic_stt_errors", "Errors returned to clients, by error code.", ["code"], registry=r
        )
        self.fallbacks = Counter(
            "echoic_stt_fallbacks",
            "Provider tiers skipped: from which, to which, and why.",
            ["from", "to", "reason"],
            registry=r,
        )
        self.latency = Histogram(
            "echoic_stt_latency_seconds",
            "Time to answer a transcription request (upload read to response), by endpoint "
            "model and transcript source.",
            ["endpoint", "model", "source"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.first_partial = Histogram(
            "echoic_stream_first_partial_seconds",
            "Live streams: from the start of speech to the first partial of the utterance "
            "(server time).",
            buckets=_STREAM_BUCKETS,
            registry=r,
        )
        self.final_latency = Histogram(
            "echoic_stream_final_latency_seconds",
            "Live streams: from the end of speech to the final transcript of the utterance, by "
            "transcript source.",
            ["source"],
            buckets=_STREAM_BUCKETS,
            registry=r,
        )
        self.decode_wait = Histogram(
            "echoic_stream_decode_wait_seconds",
            "Live streams: how long a decode request waited in its model's scheduler before it "
            "started, by model and kind (final, confirm, draft).",
            ["model", "kind"],
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.frames_dropped = Counter(
            "echoic_stream_frames_dropped",
            "Live streams: audio frames dropped because the server fell behind.",
            registry=r,
        )
        self.active_streams = Gauge("echoic_active_streams", "Live streams open now.", registry=r)
        self.jobs = Counter(
            "echoic_jobs", "Batch jobs that reached a final status.", ["status"], registry=r
        )
        self.browser_downloads = Counter(
            "echoic_browser_downloads",
            "Browser pack files sent in full (200; revalidations answered 304 are not counted), "
            "by file (``tiny.en/encoder.onnx``, ``runtime/ort-wasm-simd-threaded.wasm``…).",
            ["file"],
            registry=r,
        )
        self._queues = _QueueDepthCollector()
        r.register(self._queues)
        self._decodes = _DecodeCollector()
        r.register(self._decodes)

    def add_queue_source(self, source: QueueDepths) -> None:
        """Register a callable read at every scrape: queue name → items waiting."""
        self._queues.sources.append(source)

    def add_decode_source(self, source: DecodeCounts) -> None:
        """Register a callable read at every scrape: (model, kind) → live-stream decodes run."""
        self._decodes.sources.append(source)

    def decode_waited(self, model: str, kind: str, seconds: float) -> None:
        self.decode_wait.labels(model, kind).observe(max(0.0, seconds))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def error(self, code: str) -> None:
        self.errors.labels(code).inc()

    def browser_download(self, file: str) -> None:
        self.browser_downloads.labels(file).inc()

    def fallback(self, skip: Fallback) -> None:
        """A routing tier was skipped (the router reports every skip here)."""
        self.fallbacks.labels(skip.from_tier, skip.to_tier or "none", skip.reason).inc()


class StreamRecorder:
    """Turns the events of live streams into metrics (what the WebSocket handler reports).

    It remembers, per open utterance, when its speech started (event time ``t``, seconds since
    the session started on the server) until its first partial arrives, and each session's
    dropped-frame count so far.
    """

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics
        self._speech_started: dict[tuple[str, Any], float] = {}
        self._dropped: dict[str, int] = {}
        self._open = 0

    def stream_opened(self) -> None:
        self._open += 1
        self._m.active_streams.inc()

    def stream_closed(self) -> None:
        self._open -= 1
        self._m.active_streams.dec()
        if self._open <= 0:
            # Sessions that ended without an ``end`` event (the client vanished) leave entries.
            self._speech_started.clear()
            self._dropped.clear()

    def event(self, event: Event) -> None:
        kind, session_id, t, data = event.type.value, event.session_id, event.t, event.data
        key = (session_id, data.get("utterance_id"))
        if kind == "speech_started":
            self._speech_started[key] = t
        elif kind == "partial":
            started = self._speech_started.pop(key, None)
            if started is not None:
                self._m.first_partial.observe(max(0.0, t - started))
        elif kind == "final":
            self._speech_started.pop(key, None)
            latency = data.get("latency") or {}
            source = str(data.get("source") or "local")
            if isinstance(latency, Mapping) and "total_ms" in latency:
                seconds = max(0.0, float(latency["total_ms"]) / 1000)
                self._m.final_latency.labels(source).observe(seconds)
            self._m.requests.labels("stream", source, "ok").inc()
        elif kind == "fallback" and data.get("from") == "client":
            # A client that did not hand its transcript in; the router counts its own skips.
            self._m.fallbacks.labels("client", str(data.get("to")), str(data.get("reason"))).inc()
        elif kind == "error":
            self._m.error(str(data.get("code") or "internal_error"))
        elif kind == "end":
            usage = data.get("usage") or {}
            self._count_dropped(session_id, int(usage.get("frames_dropped") or 0))
            self._dropped.pop(session_id, None)
            for open_key in [k for k in self._speech_started if k[0] == session_id]:
                del self._speech_started[open_key]
        if kind == "warning" and "frames_dropped" in data:
            self._count_dropped(session_id, int(data["frames_dropped"]))

    def _count_dropped(self, session_id: str, total: int) -> None:
        seen = self._dropped.get(session_id, 0)
        if total > seen:
            self._m.frames_dropped.inc(total - seen)
            self._dropped[session_id] = total


class _QueueDepthCollector(Collector):
    def __init__(self) -> None:
        self.sources: list[QueueDepths] = []

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        for source in self.sources:
            for queue, depth in source().items():
                family.add_metric([queue], depth)
        return [family]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "echoic_queue_depth", "Items waiting in a queue, by queue.", labels=["queue"]
        )


class _DecodeCollector(Collector):
    def __init__(self) -> None:
        self.sources: list[DecodeCounts] = []

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        for source in self.sources:
            for (model, kind), count in source().items():
                family.add_metric([model, kind], count)
        return [family]

    @staticmethod
    def _family() -> CounterMetricFamily:
        return CounterMetricFamily(
            "echoic_stream_decodes",
            "Live streams: decodes run on the server's engines, by model and kind (final, or "
            "interim: drafts and confirmations). Client-supplied transcripts run none.",
            labels=["model", "kind"],
        )
