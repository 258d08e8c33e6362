"""Fuzzing the API from its own OpenAPI document (schemathesis): nothing a client sends may
cause a 5xx. Bounded: a few dozen examples per operation and mode, well under a minute."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.core.result import Ok

from echoic.engines.scripted import ScriptedEngine
from tests.server_kit import SAID, make_app

EXAMPLES_PER_OPERATION = 100
BUDGET_S = 60.0


def fuzz(operation: Any, mode: schemathesis.GenerationMode) -> set[int]:
    """Call ``operation`` with generated requests; the statuses seen (empty when the mode can
    generate nothing, as negative cases for an operation without parameters)."""
    seen: set[int] = set()

    @given(data=st.data())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(mode))
        response = case.call()
        seen.add(response.status_code)
        assert response.status_code < 500, f"{case.as_curl_command()}\n{response.text}"
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}

    try:
        run()
    except Unsatisfiable:
        assert not seen
    return seen


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
def test_no_input_makes_a_server_error(tmp_path: Path, mode: schemathesis.GenerationMode) -> None:
    app = make_app(tmp_path, {"tiny.en": ScriptedEngine.saying(SAID)})
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "the OpenAPI document has invalid operations"
    started = time.monotonic()
    statuses = {f"{op.method.upper()} {op.path}": fuzz(op, mode) for op in operations}
    assert time.monotonic() - started < BUDGET_S
    # The fuzzer got through routing to the upload checks, in both modes.
    assert statuses["POST /v1/audio/transcriptions"] & {400, 413, 415}, statuses
    assert statuses["POST /v1/audio/translations"] & {400, 413, 415}, statuses
    if mode is schemathesis.GenerationMode.POSITIVE:
        assert statuses["GET /v1/models/{model_id}"] & {200, 404}, statuses
