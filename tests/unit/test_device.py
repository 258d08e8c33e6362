"""How a device setting turns into threads per call and parallel calls (DESIGN.md §10)."""

from __future__ import annotations

import pytest

from echoic.engines.faster_whisper import DeviceConfig, ResolvedDevice, resolve_device


@pytest.mark.parametrize(
    ("config", "cores", "expected"),
    [
        pytest.param(DeviceConfig(device="cpu"), 2, ("cpu", "int8", 1, 2), id="cpu default"),
        pytest.param(DeviceConfig(device="cpu"), 8, ("cpu", "int8", 1, 8), id="cpu, 8 cores"),
        pytest.param(
            DeviceConfig(device="cpu", cpu_threads=2), 8, ("cpu", "int8", 2, 4), id="2 threads"
        ),
        pytest.param(
            DeviceConfig(device="cpu", cpu_threads=4), 2, ("cpu", "int8", 4, 1), id="oversized"
        ),
        pytest.param(
            DeviceConfig(device="cpu", workers=1), 2, ("cpu", "int8", 1, 1), id="one worker"
        ),
        pytest.param(
            DeviceConfig(device="cpu", compute_type="float32"),
            2,
            ("cpu", "float32", 1, 2),
            id="compute type kept",
        ),
        pytest.param(DeviceConfig(device="cuda"), 2, ("cuda", "float16", 2, 1), id="cuda"),
    ],
)
def test_resolve_device(
    config: DeviceConfig,
    cores: int,
    expected: tuple[str, str, int, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: cores)

    assert resolve_device(config) == ResolvedDevice(*expected)
