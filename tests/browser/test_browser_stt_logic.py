"""The pure parts of the page's transcription in the browser, run in Chromium itself (the page
has no build step and no Node test runner): the breaker, the coordinator's order, the audio
ring on the server's sample clock, and the capability decision."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.process_kit import ServerProcess

if TYPE_CHECKING:
    from tests.browser_kit import OpenPage

pytestmark = pytest.mark.slow


def run(open_page: OpenPage, server: ServerProcess, script: str) -> Any:
    """``script``: the body of an async function of ``load(name)``, which imports /web/name."""
    page, _ = open_page(f"{server.url}/")
    return page.evaluate(f"async () => {{ const load = (n) => import('/web/' + n); {script} }}")


def test_the_breaker_opens_after_three_failures_and_remembers_it(
    open_page: OpenPage, server: ServerProcess
) -> None:
    states = run(
        open_page,
        server,
        """
        const { Breaker } = await load("breaker.js");
        const store = new Map();
        const storage = {
          getItem: (k) => store.get(k) ?? null,
          setItem: (k, v) => store.set(k, v),
        };
        const b = new Breaker({ storage, failures: 3, cooldownMs: 1000 });
        const seen = [b.state(0)];
        b.failure(0); b.failure(10); seen.push(b.state(10));
        b.success(); b.failure(20); b.failure(30); seen.push(b.state(30));
        const opened = b.failure(40); seen.push(opened, b.state(40), b.allows(1039));
        const reloaded = new Breaker({ storage, failures: 3, cooldownMs: 1000 });
        seen.push(reloaded.state(500), reloaded.state(1040), reloaded.allows(1040));
        reloaded.success();
        seen.push(new Breaker({ storage }).state(500));
        return seen;
        """,
    )
    assert states == [
        "closed",
        "closed",  # two failures
        "closed",  # a success started the count again
        True,
        "open",
        False,
        "open",  # across a reload
        "half-open",  # the cool-down is over: the next try decides
        True,
        "closed",
    ]


def test_the_coordinator_runs_finals_first_and_drops_stale_drafts(
    open_page: OpenPage, server: ServerProcess
) -> None:
    result = run(
        open_page,
        server,
        """
        const { Coordinator } = await load("coordinator.js");
        const ran = [];
        let release;
        const gate = new Promise((resolve) => (release = resolve));
        const c = new Coordinator(async (job) => {
          ran.push(job.name);
          if (job.name === "busy") await gate;
          return job.name;
        });
        const busy = c.submit({ kind: "background", key: null, name: "busy" });
        const d1 = c.submit({ kind: "draft", key: 1, name: "draft 1a" });
        const d2 = c.submit({ kind: "draft", key: 1, name: "draft 1b" });
        const d3 = c.submit({ kind: "draft", key: 2, name: "draft 2" });
        const bg = c.submit({ kind: "background", key: null, name: "self-test" });
        const f2 = c.submit({ kind: "final", key: 2, name: "final 2" });
        const f1 = c.submit({ kind: "final", key: 1, name: "final 1" });
        release();
        const answers = await Promise.all([busy, d1, d2, d3, bg, f2, f1]);
        return { ran, answers, dropped: c.dropped };
        """,
    )
    # A final drops its utterance's queued drafts; the newer draft replaced the older one.
    assert result["ran"] == ["busy", "final 2", "final 1", "self-test"]
    assert result["answers"] == ["busy", None, None, None, "self-test", "final 2", "final 1"]
    assert result["dropped"] == 3


def test_the_ring_keeps_the_servers_sample_clock(
    open_page: OpenPage, server: ServerProcess
) -> None:
    result = run(
        open_page,
        server,
        """
        const { PcmRing } = await load("pcm-ring.js");
        const ring = new PcmRing({ seconds: 1 });
        const chunk = (from, n) => Int16Array.from({ length: n }, (_, i) => (from + i) % 30000);
        for (let i = 0; i < 30; i += 1) ring.append(chunk(i * 800, 800).buffer);  // 1.5 s
        const kept = ring.slice(0, 24000);
        const tail = ring.slice(23990, 24010);
        const at48 = new PcmRing({ seconds: 1, inputRate: 48000 });
        for (let i = 0; i < 10; i += 1) at48.append(new Int16Array(2400));  // 0.5 s
        return {
          end: ring.end, start: ring.start, kept: kept.length,
          first: Math.round(kept[0] * 32768), tail: tail.length,
          resampled: at48.end, at: PcmRing.at(1.5),
        };
        """,
    )
    assert result == {
        "end": 24000,
        "start": 8000,  # one second kept
        "kept": 16000,
        "first": 8000,  # sample 8000 of the stream, not a wrapped-around one
        "tail": 10,
        "resampled": 8000,  # 0.5 s at 48 kHz is 0.5 s at 16 kHz
        "at": 24000,
    }


@pytest.mark.parametrize(
    ("found", "backend", "ok"),
    [
        ({"webgpu": True, "simd": True, "memoryGb": 8}, "webgpu", True),
        ({"webgpu": False, "simd": True, "memoryGb": 8}, "wasm", True),
        ({"webgpu": False, "simd": True, "memoryGb": None}, "wasm", True),  # not reported
        ({"webgpu": False, "simd": False, "memoryGb": 8}, "wasm", False),
        ({"webgpu": True, "simd": True, "memoryGb": 1}, "webgpu", False),  # too little memory
    ],
)
def test_the_capability_decision(
    open_page: OpenPage, server: ServerProcess, found: dict[str, Any], backend: str, ok: bool
) -> None:
    import json

    decided = run(
        open_page,
        server,
        f'const {{ decide }} = await load("probe.js"); return decide({json.dumps(found)});',
    )
    assert (decided["backend"], decided["ok"]) == (backend, ok)
    assert bool(decided["why"]) is not ok


def test_this_chromium_offers_simd_and_threads(open_page: OpenPage, server: ServerProcess) -> None:
    found = run(open_page, server, 'const { probe } = await load("probe.js"); return probe();')
    assert found["simd"] is True
    assert found["isolated"] is True  # the page's COOP and COEP headers
    assert found["threads"] is True
    print("capability probe:", found)
