"""What a media file's own bytes say about it, read without FFmpeg.

FFmpeg reports a duration for almost every file, but not always one the file declares: for WAV it
clamps the header's data size to what is on disk (hiding truncation), for Ogg it measures the last
page (so a cut file looks complete), and for MP3 without a Xing/Info/VBRI header or ADTS AAC it
guesses from the bit rate (wrong for VBR). These pure parsers read the few header fields that tell
declared lengths apart from guesses, and name a file's format when FFmpeg cannot open it at all.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Enough bytes to hold the start of a WAV/FLAC/MP4/... header, or the whole last Ogg page
#: (at most 27 + 255 + 255 * 255 = 65 307 bytes).
HEAD_BYTES = 65_536
TAIL_BYTES = 65_536

_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"RIFF", "WAV"),
    (0, b"RF64", "WAV"),
    (0, b"fLaC", "FLAC"),
    (0, b"OggS", "Ogg"),
    (0, b"ID3", "MP3"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (4, b"ftyp", "MP4"),
    (0, b"FORM", "AIFF"),
    (0, b"caff", "CAF"),
    (0, b"#!AMR", "AMR"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "ASF/WMA"),
)


def sniff(head: bytes) -> str | None:
    """The media format a file's first bytes announce, or ``None`` when they announce none.

    Used only to tell a damaged media file (``CorruptAudioError``) from something that was never
    media (``NotAudioError``) once FFmpeg has refused to open it.
    """
    for offset, magic, name in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return name
    if _is_mpeg_audio_header(head[:4]):
        return "MPEG audio"
    return None


def _is_mpeg_audio_header(header: bytes) -> bool:
    """A plausible MPEG audio / ADTS frame header: sync bits and no reserved field values."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return False
    version, layer = (header[1] >> 3) & 0b11, (header[1] >> 1) & 0b11
    if layer == 0b00:  # ADTS (AAC) uses layer 00 with the 12-bit sync 0xFFF
        return header[1] & 0xF0 == 0xF0
    bitrate_index, rate_index = header[2] >> 4, (header[2] >> 2) & 0b11
    return version != 0b01 and bitrate_index != 0b1111 and rate_index != 0b11


@dataclass(frozen=True, kw_only=True)
class WavData:
    """Where a WAV file's ``data`` chunk starts and how many bytes its header promises."""

    offset: int
    size: int
    byte_rate: int

    @property
    def declared_s(self) -> float:
        return self.size / self.byte_rate

    def present_s(self, file_size: int) -> float:
        return max(0, min(self.size, file_size - self.offset)) / self.byte_rate


# Writers that cannot seek back (pipes, live capture) leave 0 or a huge placeholder in the size.
_WAV_PLACEHOLDER_MIN = 0x7FFF_F000


def wav_data(head: bytes) -> WavData | None:
    """The ``data`` chunk of a RIFF/WAVE header, or ``None`` when its size is not declared."""
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, 0
    while pos + 8 <= len(head):
        chunk_id, size = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        body = pos + 8
        if chunk_id == b"fmt " and body + 12 <= len(head):
            byte_rate = int.from_bytes(head[body + 8 : body + 12], "little")
        elif chunk_id == b"data":
            if byte_rate == 0 or size == 0 or size >= _WAV_PLACEHOLDER_MIN:
                return None
            return WavData(offset=body, size=size, byte_rate=byte_rate)
        pos = body + size + (size & 1)  # chunks are padded to an even length
    return None


def flac_declared_s(head: bytes) -> float | None:
    """The length in FLAC's STREAMINFO block; ``None`` when the encoder left it unknown (0)."""
    if head[:4] != b"fLaC" or len(head) < 26 or head[4] & 0x7F != 0:
        return None
    fields = int.from_bytes(head[18:26], "big")  # rate:20 channels:3 bits:5 total_samples:36
    sample_rate, total_samples = fields >> 44, fields & ((1 << 36) - 1)
    if sample_rate == 0 or total_samples == 0:
        return None
    return total_samples / sample_rate


def id3v2_size(head: bytes) -> int:
    """Bytes taken by a leading ID3v2 tag (0 without one); the first MP3 frame follows it."""
    if head[:3] != b"ID3" or len(head) < 10:
        return 0
    size = 0
    for byte in head[6:10]:  # a "syncsafe" integer: 7 bits per byte
        size = (size << 7) | (byte & 0x7F)
    has_footer = bool(head[5] & 0x10)
    return 10 + size + (10 if has_footer else 0)


def has_vbr_header(frame: bytes) -> bool:
    """Whether the first MP3 frame is a Xing/Info (LAME) or VBRI header, which count the frames.

    ``frame`` starts at the first frame (after any ID3v2 tag); a little padding before the sync
    word is tolerated.
    """
    sync = frame.find(b"\xff", 0, 1024)
    while sync >= 0 and not _is_mpeg_audio_header(frame[sync : sync + 4]):
        sync = frame.find(b"\xff", sync + 1, 1024)
    if sync < 0:
        return False
    # Xing/Info sits after the side information (9-32 bytes), VBRI at a fixed 32-byte offset.
    window = frame[sync + 4 : sync + 4 + 48]
    return any(tag in window for tag in (b"Xing", b"Info", b"VBRI"))


_OGG_HEADER_BYTES = 27
_OGG_END_OF_STREAM = 0x04


def ogg_tail_problem(tail: bytes) -> str | None:
    """Why an Ogg file's last bytes show it was cut short, or ``None`` when they end cleanly.

    Ogg declares no total length, and FFmpeg takes the duration from the last page it finds, so
    a cut file looks complete to it. A complete stream ends with a whole page flagged
    end-of-stream; a cut one ends inside a page or without that flag.
    """
    start = tail.rfind(b"OggS")
    if start < 0:
        return "no Ogg page found at its end"
    page = tail[start:]
    if len(page) < _OGG_HEADER_BYTES or len(page) < _OGG_HEADER_BYTES + page[26]:
        return "its last Ogg page is incomplete"
    segments = page[26]
    body = sum(page[_OGG_HEADER_BYTES : _OGG_HEADER_BYTES + segments])
    if len(page) < _OGG_HEADER_BYTES + segments + body:
        return "its last Ogg page is incomplete"
    if not page[5] & _OGG_END_OF_STREAM:
        return "it ends without an end-of-stream page"
    return None


def matroska_tag_s(tag: str) -> float | None:
    """A Matroska track's ``DURATION`` tag in seconds; ``None`` when it does not parse.

    FFmpeg and mkvmerge write it per track (``"00:00:11.014000000"``); the segment's own duration
    is the longest track's, which for a video file need not be the audio's.
    """
    hours, _, rest = tag.partition(":")
    minutes, _, seconds = rest.partition(":")
    try:
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None
