"""The header parsers that tell declared lengths from FFmpeg's guesses."""

from __future__ import annotations

import struct

import pytest

from echoic.audio.headers import (
    flac_declared_s,
    has_vbr_header,
    id3v2_size,
    matroska_tag_s,
    ogg_tail_problem,
    sniff,
    wav_data,
)


def riff(*chunks: tuple[bytes, bytes]) -> bytes:
    body = b"WAVE" + b"".join(
        name + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) & 1)
        for name, data in chunks
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


FMT_16K_MONO = struct.pack("<HHIIHH", 1, 1, 16_000, 32_000, 2, 16)


def test_wav_data_chunk_found_after_odd_sized_chunks() -> None:
    head = riff((b"fmt ", FMT_16K_MONO), (b"LIST", b"abc"), (b"data", bytes(64_000)))

    data = wav_data(head)

    assert data is not None
    assert data.declared_s == 2.0
    assert data.offset == 12 + 8 + 16 + 8 + 4 + 8
    assert data.present_s(len(head)) == 2.0
    assert data.present_s(data.offset + 16_000) == 0.5


@pytest.mark.parametrize("size", [0, 0xFFFF_FFFF, 0x7FFF_F000])
def test_wav_streaming_placeholder_sizes_declare_nothing(size: int) -> None:
    head = riff((b"fmt ", FMT_16K_MONO)) + b"data" + struct.pack("<I", size)

    assert wav_data(head) is None


def test_flac_streaminfo_total_samples() -> None:
    # 44.1 kHz, stereo, 16 bit, 441 000 samples: rate:20 channels-1:3 bits-1:5 total:36
    fields = (44_100 << 44) | (1 << 41) | (15 << 36) | 441_000
    head = b"fLaC" + b"\x80\x00\x00\x22" + bytes(10) + fields.to_bytes(8, "big") + bytes(16)

    assert flac_declared_s(head) == 10.0
    assert flac_declared_s(head[:18] + (fields & ~((1 << 36) - 1)).to_bytes(8, "big")) is None


MP3_HEADER = b"\xff\xfb\x90\x64"  # MPEG-1 layer III, 128 kb/s, 44.1 kHz, joint stereo


def test_id3v2_size_is_syncsafe() -> None:
    assert id3v2_size(b"ID3\x04\x00\x00\x00\x00\x02\x01") == 10 + 257
    assert id3v2_size(MP3_HEADER) == 0


@pytest.mark.parametrize(("tag", "expected"), [(b"Xing", True), (b"Info", True), (b"LAME", False)])
def test_vbr_header_after_the_side_information(tag: bytes, expected: bool) -> None:
    frame = b"\x00\x00" + MP3_HEADER + bytes(32) + tag + bytes(100)

    assert has_vbr_header(frame) is expected


def ogg_page(body: bytes, *, end_of_stream: bool) -> bytes:
    lacing = [255] * (len(body) // 255) + [len(body) % 255]
    flags = 0x04 if end_of_stream else 0x00
    header = b"OggS\x00" + bytes([flags]) + bytes(20) + bytes([len(lacing)]) + bytes(lacing)
    return header + body


def test_ogg_ending_with_a_whole_end_page_is_complete() -> None:
    tail = ogg_page(b"a" * 600, end_of_stream=False) + ogg_page(b"b" * 300, end_of_stream=True)

    assert ogg_tail_problem(tail) is None


@pytest.mark.parametrize(
    ("tail", "problem"),
    [
        (ogg_page(b"b" * 300, end_of_stream=True)[:-1], "incomplete"),
        (ogg_page(b"b" * 300, end_of_stream=True)[:20], "incomplete"),
        (ogg_page(b"b" * 300, end_of_stream=False), "end-of-stream"),
        (b"junk" * 100, "no Ogg page"),
    ],
)
def test_ogg_cut_short(tail: bytes, problem: str) -> None:
    assert problem in (ogg_tail_problem(tail) or "")


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (riff((b"fmt ", FMT_16K_MONO)), "WAV"),
        (b"\x00\x00\x00\x20ftypM4A ", "MP4"),
        (b"\x1a\x45\xdf\xa3\x01", "Matroska/WebM"),
        (MP3_HEADER, "MPEG audio"),
        (b"\xff\xf1\x50\x80", "MPEG audio"),  # ADTS AAC
        (b"\xff\xff\xff\xff", None),  # reserved field values: not a frame header
        (b"hello, world", None),
        (b"", None),
    ],
)
def test_sniff(head: bytes, kind: str | None) -> None:
    assert sniff(head) == kind


@pytest.mark.parametrize(
    ("tag", "seconds"),
    [("00:00:11.014000000", 11.014), ("01:02:03.5", 3723.5), ("eleven", None), ("", None)],
)
def test_matroska_duration_tag(tag: str, seconds: float | None) -> None:
    assert matroska_tag_s(tag) == (pytest.approx(seconds) if seconds is not None else None)
