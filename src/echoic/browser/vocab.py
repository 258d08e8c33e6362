"""``tokens.json`` and ``config.json``: what a decode loop needs besides the two graphs.

Tokens are written as byte strings (each character's code is one byte of the token's UTF-8)
so the page can detokenize with a table lookup and one ``TextDecoder``, without a BPE library.
Byte-level BPE stores bytes as printable stand-in characters (GPT-2's ``bytes_to_unicode``);
they are mapped back here. Whisper's timestamp tokens are not in ``tokenizer.json``; they get
their conventional names ``<|0.00|>`` … ``<|30.00|>``.

The suppressed tokens are faster-whisper's own list for ``suppress_tokens=[-1]`` (its
non-speech symbols plus the task and start tokens), so the browser decodes under the same rules
as echoic's server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from echoic.browser.ct2 import Checkpoint
from echoic.engines.window import LOGPROB_THRESHOLD, NO_SPEECH_THRESHOLD

SAMPLE_RATE = 16000
PAD_S = 2.0  # silence after the speech in the encoder input: echoic's live default (window.py)
MAX_S = 30  # Whisper's encoder window
#: The page's finals search 5 beams, as the server's live finals do; its drafts stay greedy.
FINAL_BEAM_SIZE = 5
MAX_TOKENS = 224  # Whisper's sample_len: half the decoder's 448 positions
TOKENS_PER_S = 8  # the same ceiling on new tokens as echoic's live windows ...
TOKEN_MARGIN = 8  # ... 8 + ⌈8 per second⌉


def byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's ``bytes_to_unicode``: printable bytes stand for themselves, the
    others were shifted to code points from 256 up, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    table = {chr(b): b for b in printable}
    shifted = 0
    for b in range(256):
        if b not in printable:
            table[chr(256 + shifted)] = b
            shifted += 1
    return table


def token_table(tokenizer_json: Path, n_vocab: int) -> list[str]:
    data = json.loads(tokenizer_json.read_text())
    decode = byte_decoder()
    table = [""] * n_vocab
    for piece, index in data["model"]["vocab"].items():
        if index < n_vocab:
            table[index] = "".join(chr(decode[c]) for c in piece)
    special = {t["id"]: t["content"] for t in data["added_tokens"]}
    for index, content in special.items():
        if index < n_vocab:
            table[index] = content
    first_timestamp = max(special) + 1
    for index in range(first_timestamp, n_vocab):
        table[index] = f"<|{(index - first_timestamp) * 0.02:.2f}|>"
    return table


def _special(tokenizer_json: Path) -> dict[str, int]:
    data = json.loads(tokenizer_json.read_text())
    return {t["content"]: t["id"] for t in data["added_tokens"]}


def suppressed_tokens(model_dir: Path) -> list[int]:
    """faster-whisper's suppression list for an English-only model transcribing English."""
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens
    from tokenizers import Tokenizer as HfTokenizer

    hf = HfTokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer = Tokenizer(hf, False, task="transcribe", language="en")
    return [int(t) for t in get_suppressed_tokens(tokenizer, [-1]) or ()]


def alignment_heads(model_dir: Path) -> list[tuple[int, int]]:
    """The ``(layer, head)`` pairs whose cross-attention follows the speech (word timings)."""
    heads = json.loads((model_dir / "config.json").read_text()).get("alignment_heads", [])
    return [(int(layer), int(head)) for layer, head in heads]


def browser_config(model: str, ckpt: Checkpoint, model_dir: Path) -> dict[str, Any]:
    n_vocab, d_model = ckpt.variables["decoder/embeddings/weight"].shape
    special = _special(model_dir / "tokenizer.json")
    ct2_config = json.loads((model_dir / "config.json").read_text())
    n_layers = sum(
        1
        for n in ckpt.variables
        if n.startswith("decoder/layer_") and n.endswith("/self_attention/layer_norm/gamma")
    )
    return {
        "model": model,
        "sample_rate": SAMPLE_RATE,
        "n_layers": n_layers,
        "d_model": int(d_model),
        "n_vocab": int(n_vocab),
        # English-only models take no language or task token.
        "sot_sequence": [special["<|startoftranscript|>"]],
        "eot": special["<|endoftext|>"],
        "no_timestamps": special["<|notimestamps|>"],
        # Whisper's no-speech rule, as the server's windows apply it (engines/window.py).
        "no_speech": special.get("<|nospeech|>", special.get("<|nocaptions|>")),
        "no_speech_threshold": NO_SPEECH_THRESHOLD,
        "logprob_threshold": LOGPROB_THRESHOLD,
        "suppress_tokens": suppressed_tokens(model_dir),
        "suppress_blank": [int(t) for t in ct2_config["suppress_ids_begin"]],
        "max_tokens": MAX_TOKENS,
        "tokens_per_second": TOKENS_PER_S,
        "token_margin": TOKEN_MARGIN,
        "pad_seconds": PAD_S,
        "max_seconds": MAX_S,
        "final_beam_size": FINAL_BEAM_SIZE,
        "alignment_heads": [[int(layer), int(head)] for layer, head in alignment_heads(model_dir)],
        "hop_samples": 160,  # one log-Mel frame; the encoder input is whole frames
    }
