"""The ``echoic`` command line.

Bad input ends in one line on stderr (``error: …``) and a non-zero exit, never a traceback.
"""

from echoic.cli import bench, listen, models, transcribe
from echoic.cli.app import cli

__all__ = ["bench", "cli", "listen", "main", "models", "transcribe"]


def main() -> None:
    cli(prog_name="echoic")
