"""Benchmarks as part of the product (``echoic bench …``; EVAL.md is the spec).

    loaded = load_engine("tiny.en", settings.models_dir)
    options = WerOptions(manifest=Path("eval/dev/manifest.jsonl"), compare_plain=True)
    result = run_wer(loaded, options)
    print_report(result)
    json_path, png_path = save_report(result)

Needs the ``bench`` extra (jiwer, whisper-normalizer, matplotlib; pyannote.metrics for DER).
"""

from echoic.bench.engine import LoadedEngine, load_engine
from echoic.bench.machine import MachineInfo, peak_rss_mb
from echoic.bench.manifest import Utterance, load_manifest
from echoic.bench.report import (
    default_report_path,
    plot_speed,
    plot_wer,
    print_report,
    print_speed,
    print_wer,
    save_report,
    write_json,
)
from echoic.bench.speed import (
    FileSpeed,
    SpeedOptions,
    SpeedResult,
    Throughput,
    Timing,
    default_speed_files,
    default_throughput_file,
    run_speed,
)
from echoic.bench.stream import (
    SessionRun,
    StreamBenchOptions,
    StreamBenchResult,
    run_stream_bench,
)
from echoic.bench.stream_report import print_stream_table, write_stream_report
from echoic.bench.text import WordCounts, corpus_wer, count_errors, normalize
from echoic.bench.wer import (
    CorpusResult,
    Hypothesis,
    PathTotals,
    UtteranceResult,
    WerOptions,
    WerResult,
    run_wer,
)

__all__ = [
    "CorpusResult",
    "FileSpeed",
    "Hypothesis",
    "LoadedEngine",
    "MachineInfo",
    "PathTotals",
    "SessionRun",
    "SpeedOptions",
    "SpeedResult",
    "StreamBenchOptions",
    "StreamBenchResult",
    "Throughput",
    "Timing",
    "Utterance",
    "UtteranceResult",
    "WerOptions",
    "WerResult",
    "WordCounts",
    "corpus_wer",
    "count_errors",
    "default_report_path",
    "default_speed_files",
    "default_throughput_file",
    "load_engine",
    "load_manifest",
    "normalize",
    "peak_rss_mb",
    "plot_speed",
    "plot_wer",
    "print_report",
    "print_speed",
    "print_stream_table",
    "print_wer",
    "run_speed",
    "run_stream_bench",
    "run_wer",
    "save_report",
    "write_json",
    "write_stream_report",
]
