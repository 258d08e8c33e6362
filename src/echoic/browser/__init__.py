"""tiny.en in the browser (DESIGN.md §4b): the install-time conversion and the files it serves.

``echoic models install tiny.en --browser`` turns the verified CTranslate2 tiny.en into two
ONNX graphs for onnxruntime-web and fetches onnxruntime-web itself from the npm registry, so the
page needs nothing from a CDN or a model hub. On disk, under the models directory::

    browser/tiny.en/   encoder.onnx decoder.onnx tokens.json config.json echoic-manifest.json
    browser/runtime/   onnxruntime-web's ESM/WASM (and WebGPU) files, echoic-manifest.json

The server reads both through :func:`echoic.browser.pack.load_pack`; the page runs them with
``echoic/web/stt/whisper.js``, which mirrors the Python reference decoder
:mod:`echoic.browser.decode` token for token.

Graph contract (shared by the Python and JavaScript decoders):

- ``encoder.onnx``: input ``audio`` float32 ``[1, S]`` (16 kHz, zero-padded by the caller to the
  length ``config.json`` prescribes, at most 30 s); Whisper's log-mel front end is inside the
  graph; output ``cross_kv`` float32 ``[2L, ⌈S/320⌉, d]`` (layer i: 2i keys, 2i+1 values,
  projected). Changed from the first draft ("S a multiple of 320, S/320 positions"): S is a
  multiple of 160 (whole log-Mel frames) so that the encoder sees exactly the window
  faster-whisper's live path gives CTranslate2, odd frame counts included; and the zeros after
  the last non-zero sample are padding: their frames are 0 and the ``max − 8`` floor is taken
  over the speech frames, as faster-whisper pads features rather than audio. Only
  ``whisper.js`` and :mod:`echoic.browser.decode` pad, so callers of ``transcribe`` see no
  change.
- ``decoder.onnx``: inputs ``tokens`` int64 ``[1, n]``, ``self_kv`` float32 ``[2L, past, d]``
  (``past`` may be 0), ``cross_kv``; outputs ``logits`` float32 ``[1, n_vocab]`` (last position)
  and ``new_self_kv`` float32 ``[2L, past + n, d]``; added after the first draft, a third output
  ``alignment`` float32 ``[heads, n, frames]``: the cross-attention weights of the model's
  alignment heads for the new positions, from which :mod:`echoic.browser.words` (and
  ``web/stt/words.js``) time the words.

``whisper.js``'s ``transcribe(samples, {maxTokens, wordTimestamps})`` answers ``{text, tokens,
encodeMs, decodeMs, words}``; ``words`` (``[{word, start, end, probability}]``, seconds) is empty
unless ``wordTimestamps`` is set (one more decoder call and the alignment, a few ms).
"""
