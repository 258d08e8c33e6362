"""A real echoic server process whose local engine is a :class:`ScriptedEngine`.

The end-to-end tests of routing need a local engine that fails on cue; everything else (the
app, uvicorn, sockets, the cloud tier configured from ``ECHOIC_*``) is the real server.

    python -m tests.scripted_server --say "hello" --fail-after-warm-up 3 --port 8123

The first call (the startup self-test) always succeeds; then ``--fail N`` calls fail with an
engine error (``--fail -1``: all of them), then every call says ``--say``.
"""

from __future__ import annotations

import argparse
import math

import uvicorn

from echoic.engines.scripted import ScriptedEngine, Step
from echoic.errors import EngineError
from echoic.logs import configure_logging
from echoic.server import create_app
from echoic.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--say", default="hello from the local engine")
    parser.add_argument("--fail", type=int, default=0, help="calls that fail; -1: all")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each call takes")
    parser.add_argument("--model", default="tiny.en")
    args = parser.parse_args()

    failing = Step(error=EngineError("scripted local failure"), delay_s=args.delay)
    saying = Step(text=args.say, delay_s=args.delay)
    steps = [Step(text="self-test")]
    steps += [failing] if args.fail < 0 else [failing] * args.fail + [saying]
    engine = ScriptedEngine(steps=steps, model=args.model)

    settings = Settings(port=args.port)
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings, {args.model: engine})
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_s),
    )


if __name__ == "__main__":
    main()
