"""Speaker diarization: who spoke when (issue 16).

- :mod:`echoic.diarize.types`: what a request asks for (:class:`SpeakerCount`) and what the
  diarizer finds (:class:`SpeakerTurns`), pure data;
- :mod:`echoic.diarize.labels`: speaker labels onto a transcript's segments and words, splitting
  a segment where the speaker changes (pure);
- :mod:`echoic.diarize.encoder`: the speaker encoder (Resemblyzer's trained voice encoder, run in
  numpy from weights converted at install time);
- :mod:`echoic.diarize.diarizer`: speech regions, embeddings on short overlapping windows and
  clustering into :class:`SpeakerTurns`;
- :mod:`echoic.diarize.runner`: the diarizer beside a transcription (asyncio glue; one diarizer
  per process, loaded on first use), what REST, jobs and the CLI call;
- :mod:`echoic.diarize.scripted`: a diarizer with fixed answers, for tests and demos.
"""
