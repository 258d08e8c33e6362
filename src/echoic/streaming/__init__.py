"""Live transcription: frames in, draft and final text out (DESIGN.md §3).

Pure core: :mod:`~echoic.streaming.session` (per-stream state machine, with :mod:`.partials`,
:mod:`.finals` and :mod:`.windows`), :mod:`.stable` (flicker control), :mod:`.events`. Async
shell: :mod:`.scheduler` (one model, many streams), :mod:`.runner` (one stream's loop),
:mod:`.live` (the API the server and CLI use).
"""
