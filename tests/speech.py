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

# One long utterance (15.6 s) without a pause the VAD would take for its end: a live stream of it
# has exactly one final decode.
LS_367_130732_0005_PATH = "eval/dev/audio/ls-367-130732-0005.wav"
LS_367_130732_0005 = (
    "It was here that most magnificent dinners were arranged, it was here that extraordinary "
    "dishes were concocted by chefs of world wide fame, it was here that lobster a la Newberg "
    "reached its highest perfection, and this is the recipe that was followed when it was "
    "prepared in the Delmonico"
)
