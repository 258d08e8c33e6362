"""A job worker: claim, fetch, decode, transcribe, store — with a lease kept alive meanwhile.

    worker = Worker(store, models.engine, WorkerConfig(worker_id="host-1:4242"))
    await worker.run(stop)          # until ``stop`` is set

One job at a time per worker (a model already uses every core: see ``engines/``); run more
workers, here or on other machines, for more at once. While a job runs, a heartbeat renews its
lease every ``heartbeat_s`` and records progress; when the job was cancelled, or the lease was
lost (this worker stalled past its expiry and another took the job over), the heartbeat tells
the transcription to stop at its next chunk, and nothing this worker computed is stored. A job
that asks for diarization has its speakers found on a thread while it is transcribed
(:func:`~echoic.diarize.runner.with_speakers`), with the process's ``diarizer``.

Failures: an error the job caused (not audio, a URL with no media) fails it at once; a
retryable one (an engine or provider failure, a network error) sends it back to the queue after
a jittered backoff, until ``max_attempts``, then it is dead-lettered with its last error. On
shutdown (``stop`` set) the running job stops at its next chunk and its lease is released, so
another worker starts it at once instead of after the lease expires.

A worker inside ``echoic serve`` shares the cores with live streams: given the server's
``slots``, each chunk call of its decodes takes a compute slot after every waiting live decode
(:meth:`~echoic.streaming.scheduler.ComputeSlots.background`). An ``echoic worker`` process has
the machine's cores to itself and needs none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from echoic.audio import decode_audio
from echoic.diarize.runner import DiarizerSlot, SpeakerFinder, with_speakers
from echoic.diarize.words import engine_words
from echoic.engines.base import Engine
from echoic.errors import EchoicError, InvalidParameterError, JobCancelledError, LeaseLostError
from echoic.jobs.ingest import FetchCancelled, UrlPolicy, fetch_media
from echoic.jobs.options import JobOptions
from echoic.jobs.retry import JobRetry
from echoic.settings import Settings
from echoic.storage.records import Job, JobError, JobStatus, Lease, Media
from echoic.storage.store import Store
from echoic.streaming.scheduler import ComputeSlots
from echoic.types import Audio, Transcript

log = logging.getLogger(__name__)

EngineFor = Callable[[str | None], Awaitable[Engine]]
#: The compute slots an engine's decodes share with live streams in this process.
SlotsFor = Callable[[Engine], ComputeSlots]


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    worker_id: str
    lease_s: float = 30.0
    #: How often the lease is renewed and progress recorded (at most a third of ``lease_s``).
    heartbeat_s: float = 1.0
    #: How long an idle worker waits before looking for work again (a submit on this process
    #: wakes it at once).
    poll_s: float = 1.0
    retry: JobRetry = field(default_factory=JobRetry)
    url_policy: UrlPolicy = field(
        default_factory=lambda: UrlPolicy(max_bytes=100 * 1024 * 1024, max_duration_s=7200.0)
    )
    max_duration_s: float = 7200.0
    beam_size: int = 5
    vad_filter: bool = True
    batched_threshold_s: float = 60.0
    batch_size: int = 8


class _ShuttingDown(JobCancelledError):
    """The worker is stopping: its job goes back to the queue, not to ``cancelled``."""


class _Abort:
    """Why the running job must stop; checked from the inference thread at each chunk."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: EchoicError | None = None

    def set(self, reason: EchoicError) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise self.reason or JobCancelledError("The job was stopped.")


@dataclass
class _Progress:
    done_s: float = 0.0
    total_s: float = 0.0

    @property
    def fraction(self) -> float:
        return min(1.0, self.done_s / self.total_s) if self.total_s > 0 else 0.0


class Worker:
    def __init__(
        self,
        store: Store,
        engine_for: EngineFor,
        config: WorkerConfig,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        on_finished: Callable[[JobStatus], None] | None = None,
        slots: SlotsFor | None = None,
        diarizer: DiarizerSlot | None = None,
    ) -> None:
        self.store = store
        self._diarizer = diarizer
        self.engine_for = engine_for
        self.config = config
        self._slots = slots
        self._clock = clock
        self._rng = rng or random.Random()
        self._on_finished = on_finished
        self._wakeup = asyncio.Event()
        self.current: str | None = None  # the job being worked on

    def wake(self) -> None:
        """Look for work now (a job was just submitted to this process)."""
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("worker started", extra={"worker_id": self.config.worker_id})
        while not stop.is_set():
            self._wakeup.clear()  # before the claim: a wake-up during it is not lost
            try:
                claimed = await asyncio.to_thread(
                    self.store.leases.claim,
                    self.config.worker_id,
                    now=self._clock(),
                    lease_s=self.config.lease_s,
                )
            except Exception:  # the database is away: keep trying, do not die
                log.exception("claiming a job failed", extra={"worker_id": self.config.worker_id})
                claimed = None
            if claimed is None:
                await self._idle(stop)
                continue
            await self.run_job(*claimed, stop=stop)
        log.info("worker stopped", extra={"worker_id": self.config.worker_id})

    async def _idle(self, stop: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wakeup.wait())]
        try:
            await asyncio.wait(waits, timeout=self.config.poll_s, return_when="FIRST_COMPLETED")
        finally:
            for waiter in waits:
                waiter.cancel()

    async def run_job(self, job: Job, lease: Lease, *, stop: asyncio.Event) -> None:
        """Work on one claimed job until it is stored, failed, released or taken away."""
        self.current = job.id
        abort = _Abort()
        progress = _Progress()
        context = {"job_id": job.id, "lease_id": lease.lease_id, "attempt": job.attempts}
        log.info("job started", extra=context)
        finished = asyncio.Event()
        heartbeat = asyncio.create_task(
            self._heartbeat(lease, abort, progress, stop, finished),
            name=f"echoic:heartbeat:{job.id}",
        )

        outcome: Transcript | Exception
        try:
            outcome = await self._transcribe(job, abort, progress)
        except Exception as exc:
            outcome = exc
        finally:
            # Every report below comes after the last renewal: one landing after a completion
            # would be refused (and audited) for no reason.
            finished.set()
            await asyncio.gather(heartbeat, return_exceptions=True)
        try:
            if isinstance(outcome, Exception):
                raise outcome
            transcript = outcome
            if not isinstance(abort.reason, _ShuttingDown):  # done anyway: keep it
                abort.check()
            await asyncio.to_thread(
                self.store.leases.complete, lease, transcript, now=self._clock()
            )
            await asyncio.to_thread(self.store.after_completion, job, self._clock())
            self._finished(JobStatus.COMPLETED)
            log.info(
                "job completed",
                extra={
                    **context,
                    "audio_s": transcript.duration,
                    "provider": transcript.metadata.provider,
                },
            )
        except (LeaseLostError, FetchCancelled) as exc:
            await self._stopped(lease, abort, context, exc)
        except EchoicError as exc:
            await self._fail(
                job,
                lease,
                JobError(code=exc.code, message=exc.message, retryable=exc.retryable),
                context,
            )
        except Exception as exc:  # a bug: the job may work elsewhere, or after a fix
            log.exception("job crashed", extra=context)
            await self._fail(
                job,
                lease,
                JobError(
                    code="internal_error", message=f"{type(exc).__name__}: {exc}", retryable=True
                ),
                context,
            )
        finally:
            self.current = None

    async def _transcribe(self, job: Job, abort: _Abort, progress: _Progress) -> Transcript:
        options = JobOptions.from_dict(job.options)
        audio = await self._audio(job, abort)
        abort.check()
        engine = await self.engine_for(options.model)
        progress.total_s = len(audio) / 16_000

        def report(done_s: float, total_s: float) -> None:  # the inference thread, per chunk
            progress.done_s, progress.total_s = done_s, total_s
            abort.check()

        config = self.config
        decode_options = options.transcribe_options(
            beam_size=config.beam_size,
            vad_filter=config.vad_filter,
            batched_threshold_s=config.batched_threshold_s,
            batch_size=config.batch_size,
        )
        count = options.speaker_count
        diarizer = None if count is None else await asyncio.to_thread(self._diarizer_get)
        slots = None if self._slots is None else self._slots(engine)
        with contextlib.nullcontext() if slots is None else slots.background():
            transcribing = engine.transcribe(audio, decode_options, progress=report)
            if diarizer is None or count is None:
                return await transcribing
            words_for = engine_words(engine, decode_options)
            return await with_speakers(transcribing, audio, diarizer, count, words_for)

    def _diarizer_get(self) -> SpeakerFinder:
        if self._diarizer is None:
            raise InvalidParameterError(
                "This worker does not diarize (ECHOIC_DIARIZATION_ENABLED is false here): "
                "submit the job without diarization.",
                param="diarization",
            )
        return self._diarizer.get()

    async def _audio(self, job: Job, abort: _Abort) -> Audio:
        media = await asyncio.to_thread(self.store.media.get, None, job.media_id)
        if media.location is None and media.source == "url" and not media.deleted:
            assert media.url is not None
            media = await asyncio.to_thread(self._fetch, media.id, media.url, abort)
        source = await asyncio.to_thread(self.store.media.open, media)
        try:
            return await asyncio.to_thread(
                decode_audio, source, max_duration_s=self.config.max_duration_s
            )
        finally:
            source.close()

    def _fetch(self, media_id: str, url: str, abort: _Abort) -> Media:
        with tempfile.TemporaryDirectory(prefix="echoic-fetch-") as scratch:
            fetched = fetch_media(
                url, Path(scratch), self.config.url_policy, should_stop=abort.is_set
            )
            return self.store.attach_fetched(
                media_id, fetched.path, title=fetched.title, duration_s=fetched.duration_s
            )

    async def _heartbeat(
        self,
        lease: Lease,
        abort: _Abort,
        progress: _Progress,
        stop: asyncio.Event,
        finished: asyncio.Event,
    ) -> None:
        """Renew the lease (the lease id stays; only the expiry moves) and record progress,
        until ``finished``."""
        interval = min(self.config.heartbeat_s, self.config.lease_s / 3)
        while True:
            if stop.is_set():
                abort.set(_ShuttingDown("The worker is shutting down."))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), interval)
            if finished.is_set():
                return
            try:
                lease = await asyncio.to_thread(
                    self.store.leases.renew,
                    lease,
                    now=self._clock(),
                    lease_s=self.config.lease_s,
                    progress=progress.fraction if progress.done_s else None,
                    audio_done_s=progress.done_s,
                )
            except LeaseLostError as exc:
                abort.set(exc)
                return
            except Exception:  # the database hiccuped: the next beat tries again
                log.exception("renewing a lease failed", extra={"job_id": lease.job_id})

    async def _stopped(
        self, lease: Lease, abort: _Abort, context: dict[str, object], exc: Exception
    ) -> None:
        if isinstance(abort.reason, _ShuttingDown):
            with contextlib.suppress(LeaseLostError):  # expired meanwhile: queued already
                await asyncio.to_thread(self.store.leases.release, lease, now=self._clock())
                log.info("job released on shutdown", extra=context)
            return
        if isinstance(abort.reason, JobCancelledError) or isinstance(exc, JobCancelledError):
            self._finished(JobStatus.CANCELLED)
            log.info("job cancelled while running", extra=context)
        else:
            log.warning(
                "job lease lost; another worker has it", extra={**context, "error": str(exc)}
            )

    async def _fail(
        self, job: Job, lease: Lease, error: JobError, context: dict[str, object]
    ) -> None:
        delay = self.config.retry.delay(
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            retryable=error.retryable,
            rng=self._rng,
        )
        try:
            failed = await asyncio.to_thread(
                self.store.leases.fail, lease, error, now=self._clock(), retry_in_s=delay
            )
        except LeaseLostError:
            log.warning("job failed after its lease was lost", extra=context)
            return
        log.warning(
            "job failed" if failed.status is JobStatus.FAILED else "job will be retried",
            extra={**context, "code": error.code, "error": error.message, "retry_in_s": delay},
        )
        if failed.status is JobStatus.FAILED:
            self._finished(JobStatus.FAILED)

    def _finished(self, status: JobStatus) -> None:
        if self._on_finished is not None:
            self._on_finished(status)


def worker_config(settings: Settings, worker_id: str) -> WorkerConfig:
    """A worker configured as ``settings`` say (the server's and ``echoic worker``'s)."""
    return WorkerConfig(
        worker_id=worker_id,
        lease_s=settings.lease_s,
        retry=JobRetry(base_s=settings.job_retry_base_s, max_s=settings.job_retry_max_s),
        url_policy=UrlPolicy(
            max_bytes=settings.max_upload_bytes,
            max_duration_s=settings.max_duration_s,
            allow_private=settings.url_allow_private,
            timeout_s=settings.url_fetch_timeout_s,
        ),
        max_duration_s=settings.max_duration_s,
        beam_size=settings.beam_size,
        vad_filter=settings.vad_filter,
        batched_threshold_s=settings.batched_threshold_s,
        batch_size=settings.batch_size,
    )
