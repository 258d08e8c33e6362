"""The ``echoic`` command line.

Bad input ends in one line on stderr (``error: …``) and a non-zero exit, never a traceback.
"""

from echoic.cli import bench, keys, listen, models, serve, transcribe
from echoic.cli.app import cli

__all__ = ["bench", "cli", "keys", "listen", "main", "models", "serve", "transcribe"]


def main() -> None:
    cli(prog_name="echoic")
