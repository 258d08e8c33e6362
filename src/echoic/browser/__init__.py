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
  length ``config.json`` prescribes, S a multiple of 320, at most 30 s); Whisper's log-mel front
  end is inside the graph; output ``cross_kv`` float32 ``[2L, S/320, d]`` (layer i: 2i keys,
  2i+1 values, projected).
- ``decoder.onnx``: inputs ``tokens`` int64 ``[1, n]``, ``self_kv`` float32 ``[2L, past, d]``
  (``past`` may be 0), ``cross_kv``; outputs ``logits`` float32 ``[1, n_vocab]`` (last position)
  and ``new_self_kv`` float32 ``[2L, past + n, d]``.
"""
