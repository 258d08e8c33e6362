"""Reference texts of the real speech the tests use (the audio itself lives in ../shared)."""

JFK_PATH = "eval/dev/audio/jfk-inaugural-1961.wav"
JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)

# A second, different voice: tests that join two recordings use it rather than JFK twice, whose
# repeated words push Whisper's compression-ratio check into sampling at temperature > 0.
LJ001_0001_PATH = "eval/dev/audio/lj-LJ001-0001.wav"
LJ001_0001 = (
    "Printing, in the only sense with which we are at present concerned, differs from most if "
    "not from all the arts and crafts represented in the Exhibition"
)
