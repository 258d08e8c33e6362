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
- ``decoder.onnx`` (conversion 4: a batch of ``B`` hypotheses per call, for beam search):
  inputs ``tokens`` int64 ``[B, n]``, ``self_kv`` float32 ``[2L, B, past, d]`` (``past`` may be
  0), ``cross_kv`` ``[2L, frames, d]`` shared by the B hypotheses (broadcast in the graph, never
  copied); outputs ``logits`` float32 ``[B, n_vocab]`` (last position), ``new_self_kv`` float32
  ``[2L, B, past + n, d]`` and ``alignment`` float32 ``[B, heads, n, frames]``: the
  cross-attention weights of the model's alignment heads for the new positions, from which
  :mod:`echoic.browser.words` (and ``web/stt/words.js``) time the words. Keeping the surviving
  beams is the caller's gather on the cache's axis 1. Greedy decoding is ``B = 1``.

``whisper.js``'s ``transcribe(samples, {maxTokens, wordTimestamps, beamSize})`` answers
``{text, tokens, encodeMs, decodeMs, words, noSpeechProb, avgLogprob}``; ``words``
(``[{word, start, end, probability}]``, seconds) is empty unless ``wordTimestamps`` is set (one
more decoder call and the alignment, a few ms). ``beamSize`` (default 1, greedy) > 1 runs
:mod:`echoic.browser.beam`'s search, as the page does for finals with ``config.json``'s
``final_beam_size`` (5). Conversion 5: ``config.json`` names the no-speech token and Whisper's
two thresholds, and ``text`` is empty for a window the rule finds silent (a cough, a door), as
the server's windows are.
"""
