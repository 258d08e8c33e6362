"""``echoic jobs`` and ``echoic transcripts``: the jobs API of a running server, from a shell.

    echoic jobs submit talk.mp3 --wait                  # a progress bar, then the text
    echoic jobs submit https://example.org/a.mp3 --priority 5
    echoic jobs list --status running
    echoic jobs show job_…  |  echoic jobs cancel job_…
    echoic transcripts get tr_… --format srt > talk.srt

The server is ``--server`` (``ECHOIC_SERVER_URL``, default ``http://127.0.0.1:8000``); its API
key ``--api-key`` (``ECHOIC_API_KEY``). A refusal from the server (a bad file, an unknown id)
ends in its message on stderr and exit status 2; a job that fails, in its error and status 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from echoic.cli.app import EXIT_BAD_INPUT, EXIT_FAILURE, cli, fail

P = ParamSpec("P")
R = TypeVar("R")

FORMATS = ("text", "json", "verbose_json", "srt", "vtt", "diarized_json")
STATUSES = ("queued", "running", "completed", "failed", "cancelled")
_TIMEOUT = httpx.Timeout(30.0, read=None)  # an event stream may be quiet for long


def client_options(fn: Callable[P, R]) -> Callable[P, R]:
    for option in reversed(
        [
            click.option(
                "--server",
                envvar="ECHOIC_SERVER_URL",
                default="http://127.0.0.1:8000",
                show_default=True,
                help="The echoic server (env ECHOIC_SERVER_URL).",
            ),
            click.option(
                "--api-key",
                envvar="ECHOIC_API_KEY",
                default=None,
                help="Its API key, when it requires one (env ECHOIC_API_KEY).",
            ),
        ]
    ):
        fn = option(fn)
    return fn


class Api:
    """A small client of the jobs API; every failure becomes a one-line CLI error."""

    def __init__(self, server: str, api_key: str | None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base = server.rstrip("/") + "/v1"
        self.http = httpx.Client(headers=headers, timeout=_TIMEOUT)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, self.base + path, **kwargs)
        except httpx.HTTPError as exc:
            fail(f"cannot reach the server at {self.base}: {exc}", EXIT_FAILURE)
        if response.status_code >= 400:
            fail(_error_message(response), EXIT_BAD_INPUT if response.status_code < 500 else 1)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body: dict[str, Any] = self.request(method, path, **kwargs).json()
        return body

    def events(self, job_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The job's events (name, data) until the server ends the stream."""
        try:
            with self.http.stream("GET", f"{self.base}/jobs/{job_id}/events") as response:
                if response.status_code >= 400:
                    response.read()
                    fail(_error_message(response), EXIT_BAD_INPUT)
                name = "message"
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        name = line.partition(":")[2].strip()
                    elif line.startswith("data:"):
                        yield name, json.loads(line.partition(":")[2])
                        name = "message"
        except httpx.HTTPError as exc:
            fail(f"lost the server at {self.base}: {exc}", EXIT_FAILURE)

    def close(self) -> None:
        self.http.close()


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{error['message']} ({error.get('code')}, HTTP {response.status_code})"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"


@cli.group()
def jobs() -> None:
    """Submit transcription jobs to a server, watch and cancel them."""


@jobs.command("submit")
@click.argument("source")
@click.option("--wait", is_flag=True, help="Follow the job's progress, then print the transcript.")
@click.option("--priority", type=click.IntRange(-100, 100), default=0, show_default=True)
@click.option("-m", "--model", default=None, help="A model the server has (default: its own).")
@click.option("-l", "--language", default=None, help="The spoken language (default: detect).")
@click.option("--word-timestamps", is_flag=True, help="Word timings in the transcript.")
@click.option("--diarize", is_flag=True, help="Name the speakers (SPEAKER_00, …).")
@click.option("--num-speakers", type=int, default=None, help="With --diarize: how many speak.")
@click.option("--min-speakers", type=int, default=None, help="With --diarize: at least this many.")
@click.option("--max-speakers", type=int, default=None, help="With --diarize: at most this many.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="With --wait: the transcript's format.",
)
@client_options
def jobs_submit(
    source: str,
    wait: bool,
    priority: int,
    model: str | None,
    language: str | None,
    word_timestamps: bool,
    diarize: bool,
    num_speakers: int | None,
    min_speakers: int | None,
    max_speakers: int | None,
    fmt: str,
    server: str,
    api_key: str | None,
) -> None:
    """Queue SOURCE (an audio/video file, or an http(s) URL) for transcription."""
    api = Api(server, api_key)
    fields: dict[str, Any] = {"priority": priority}
    if model:
        fields["model"] = model
    if language:
        fields["language"] = language
    if word_timestamps:
        fields["timestamp_granularities[]"] = ["word", "segment"]
    if diarize:
        fields["diarization"] = True
    # The server checks the counts (and refuses them without --diarize), as for any client.
    counts = {
        "num_speakers": num_speakers,
        "min_speakers": min_speakers,
        "max_speakers": max_speakers,
    }
    fields.update({k: v for k, v in counts.items() if v is not None})
    try:
        if source.startswith(("http://", "https://")):
            job = api.json("POST", "/jobs", json={"url": source, **fields})
        else:
            path = Path(source)
            if not path.is_file():
                fail(f"{source}: no such file", EXIT_BAD_INPUT)
            with path.open("rb") as f:
                job = api.json("POST", "/jobs", files={"file": (path.name, f)}, data=fields)
        click.echo(job["id"], err=wait)
        if wait:
            job = _follow(api, job)
            if job["status"] != "completed":
                error = job.get("error") or {}
                fail(f"job {job['id']} {job['status']}: {error.get('message', '')}".strip(": "))
            _print_transcript(api, job["transcript_id"], fmt, None)
    finally:
        api.close()


def _follow(api: Api, job: dict[str, Any]) -> dict[str, Any]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
    )
    console = Console(stderr=True)
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"{job['id']} queued", total=100)
        for name, data in api.events(job["id"]):
            if name == "progress":
                progress.update(
                    task, completed=data.get("percent") or 0, description=f"{job['id']} running"
                )
            elif name == "started":
                progress.update(task, description=f"{job['id']} running")
            elif name in ("retrying", "requeued"):
                progress.update(task, completed=0, description=f"{job['id']} {name}")
            elif name == "completed":
                progress.update(task, completed=100)
    return api.json("GET", f"/jobs/{job['id']}")


@jobs.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@client_options
def jobs_list(status: str | None, limit: int, server: str, api_key: str | None) -> None:
    """The newest jobs."""
    api = Api(server, api_key)
    try:
        params: dict[str, Any] = {"limit": limit, **({"status": status} if status else {})}
        page = api.json("GET", "/jobs", params=params)
    finally:
        api.close()
    table = Table()
    table.add_column("id", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("done", justify="right", no_wrap=True)
    table.add_column("source", overflow="ellipsis", max_width=32)
    table.add_column("error", overflow="fold")
    for job in page["data"]:
        media = job["media"]
        table.add_row(
            job["id"],
            job["status"],
            f"{job['progress']['percent']:.0f}%",
            media.get("url") or media.get("filename") or "",
            (job.get("error") or {}).get("message", ""),
        )
    Console().print(table)


@jobs.command("show")
@click.argument("job_id")
@client_options
def jobs_show(job_id: str, server: str, api_key: str | None) -> None:
    """One job, as JSON."""
    api = Api(server, api_key)
    try:
        click.echo(json.dumps(api.json("GET", f"/jobs/{job_id}"), indent=2))
    finally:
        api.close()


@jobs.command("cancel")
@click.argument("job_id")
@client_options
def jobs_cancel(job_id: str, server: str, api_key: str | None) -> None:
    """Cancel a job (a running one stops at its next chunk)."""
    api = Api(server, api_key)
    try:
        job = api.json("DELETE", f"/jobs/{job_id}")
    finally:
        api.close()
    click.echo(f"{job['id']}: {job['status']}", err=True)


@cli.group()
def transcripts() -> None:
    """Stored transcripts on a server."""


@transcripts.command("get")
@click.argument("transcript_id")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--version", type=click.IntRange(min=1), default=None, help="Default: the newest.")
@client_options
def transcripts_get(
    transcript_id: str, fmt: str, version: int | None, server: str, api_key: str | None
) -> None:
    """Print a transcript in a format."""
    api = Api(server, api_key)
    try:
        _print_transcript(api, transcript_id, fmt, version)
    finally:
        api.close()


def _print_transcript(api: Api, transcript_id: str, fmt: str, version: int | None) -> None:
    params: dict[str, Any] = {"response_format": fmt}
    if version is not None:
        params["version"] = version
    body = api.request("GET", f"/transcripts/{transcript_id}", params=params).text
    sys.stdout.write(body if body.endswith("\n") else body + "\n")
