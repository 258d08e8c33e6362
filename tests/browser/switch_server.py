"""A real echoic server whose local engine can be switched off while it runs.

The local engine is the real tiny.en; while the file ``--switch`` exists, every call to it
fails with an engine error, as a crashed or hung local model would. The browser tests flip it in
the middle of a live session to see the page fall back to the cloud tier and come back.

    python -m tests.browser.switch_server --switch /tmp/local-off --port 8123
"""

from __future__ import annotations

import argparse
import asyncio
import math
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from echoic.engines.base import Capabilities, Engine, Health, LanguageGuess, ProgressCallback
from echoic.engines.faster_whisper import DeviceConfig
from echoic.engines.registry import EnginePool
from echoic.errors import EngineError
from echoic.logs import configure_logging
from echoic.server import create_app
from echoic.settings import Settings
from echoic.types import Audio, TranscribeOptions, Transcript


@dataclass
class SwitchedEngine:
    """``inner``, failing while ``switch`` exists."""

    inner: Engine
    switch: Path

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    async def transcribe(
        self,
        audio: Audio,
        options: TranscribeOptions,
        *,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        if self.switch.exists():
            raise EngineError("the local engine is switched off")
        return await self.inner.transcribe(audio, options, progress=progress)

    async def detect_language(self, audio: Audio) -> LanguageGuess:
        return await self.inner.detect_language(audio)

    async def healthcheck(self) -> Health:
        if self.switch.exists():
            return Health(ok=False, detail="switched off")
        return await self.inner.healthcheck()

    async def aclose(self) -> None:
        await self.inner.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--switch", type=Path, required=True)
    parser.add_argument("--model", default="tiny.en")
    args = parser.parse_args()

    settings = Settings(port=args.port)
    configure_logging(settings.log_level, settings.log_format)
    pool = EnginePool(settings.models_dir, DeviceConfig(device="cpu"))
    engine = SwitchedEngine(pool.get(args.model), args.switch)
    app = create_app(settings, {args.model: engine})
    try:
        uvicorn.run(
            app,
            host="127.0.0.1",
            port=args.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_s),
        )
    finally:
        # The app leaves engines it was given to their owner.
        asyncio.run(pool.aclose())


if __name__ == "__main__":
    main()
