"""``echoic bench rest`` against a real server process (a scripted engine: the benchmark's own
machinery is what is under test), and its clear errors."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from echoic.bench.rest import RestBenchOptions, ServerUnavailableError, run_rest_bench
from echoic.cli import cli
from tests.process_kit import server_process
from tests.speech import JFK_PATH


def test_levels_against_a_running_server(tmp_path: Path, shared_dir: Path) -> None:
    with server_process(
        ["--say", "hello", "--delay", "0.02"],
        tmp_path,
        env={"ECHOIC_RATE_LIMIT": ""},
        module="tests.scripted_server",
    ) as server:
        out = tmp_path / "rest.json"
        result = CliRunner().invoke(
            cli,
            [
                "bench", "rest", str(shared_dir / JFK_PATH), "--url", server.url,
                "--clients", "1,2", "--seconds", "0.5", "-o", str(out),
            ],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["kind"] == "rest"
    assert report["audio_s"] == pytest.approx(11.0, abs=0.1)
    levels = report["levels"]
    assert [level["clients"] for level in levels] == [1, 2]
    for level in levels:
        assert level["errors"] == 0
        assert level["requests"] >= 5  # 20 ms each, for 0.5 s
        assert level["audio_s_per_s"] == pytest.approx(level["req_per_s"] * 11.0, rel=0.01)
        assert 0.02 <= level["latency_p50_s"] <= level["latency_p95_s"]
    assert out.with_suffix(".png").stat().st_size > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.wav"], "no such file"),
        (["{jfk}", "--clients", "2,1"], "client counts must increase"),
        (["{jfk}", "--clients", "0"], "client counts must be positive"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(
    args: list[str], message: str, shared_dir: Path
) -> None:
    jfk = str(shared_dir / JFK_PATH)
    result = CliRunner().invoke(cli, ["bench", "rest", *(a.format(jfk=jfk) for a in args)])
    assert result.exit_code == 2
    assert message in result.output


def test_a_server_that_never_answers_is_a_clear_error(shared_dir: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here
    options = RestBenchOptions(
        file=shared_dir / JFK_PATH, url=f"http://127.0.0.1:{port}", ready_timeout_s=0.5
    )
    with pytest.raises(ServerUnavailableError, match=r"did not answer /ready within 0\.5 s"):
        run_rest_bench(options)


def test_a_server_that_answers_no_request_is_a_clear_error(
    tmp_path: Path, shared_dir: Path
) -> None:
    with server_process(
        ["--fail", "-1"], tmp_path, env={"ECHOIC_RATE_LIMIT": ""}, module="tests.scripted_server"
    ) as server:
        options = RestBenchOptions(
            file=shared_dir / JFK_PATH, url=server.url, clients=(1,), seconds=0.3
        )
        with pytest.raises(ServerUnavailableError, match=r"no request succeeded .* HTTP 5\d\d"):
            run_rest_bench(options)


def test_a_server_that_cannot_start_is_reported_at_once(
    tmp_path: Path, shared_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECHOIC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ECHOIC_MODELS_DIR", str(tmp_path / "no-models"))
    options = RestBenchOptions(file=shared_dir / JFK_PATH, seconds=0.3, ready_timeout_s=60)
    started = time.monotonic()
    with pytest.raises(ServerUnavailableError, match=r"not ready|exited"):
        run_rest_bench(options)
    assert time.monotonic() - started < 30
