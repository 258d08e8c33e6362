"""What echoic keeps between runs: API keys now; transcripts, media and jobs later (DESIGN §6)."""
