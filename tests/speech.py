"""Reference texts of the real speech the tests use (the audio itself lives in ../shared)."""

JFK_PATH = "eval/dev/audio/jfk-inaugural-1961.wav"
JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
