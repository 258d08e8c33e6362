"""Word timings from alignment-head attention: the pieces whisper.js mirrors."""

from __future__ import annotations

import numpy as np

from echoic.browser.words import align_words, dtw, median_filter, merge_punctuations, split_words

TABLE = [" Hello", ",", " wor", "ld", " (", "yes", ")", "\xc3", "\xa9", "<|endoftext|>"]
EOT = 9


def test_dtw_follows_the_cheap_diagonal_and_waits_where_a_token_lasts() -> None:
    cost = np.array([[0.0, 0.0, 9.0, 9.0], [9.0, 9.0, 0.0, 9.0], [9.0, 9.0, 9.0, 0.0]])
    tokens, times = dtw(cost)
    assert tokens == [0, 0, 1, 2]
    assert times == [0, 1, 2, 3]


def test_median_filter_reflects_at_the_edges() -> None:
    x = np.array([[1.0, 9.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]])
    assert median_filter(x, 3).tolist() == [[9.0, 2.0, 3.0, 3.0, 4.0, 5.0, 6.0, 6.0]]
    short = np.array([[1.0, 2.0]])
    assert median_filter(short, 7) is short


def test_words_start_at_spaces_and_punctuation_and_keep_utf8_whole() -> None:
    assert split_words(TABLE, [0, 1, 2, 3, 7, 8, EOT], EOT) == [[0], [1], [2, 3, 7, 8], [EOT]]


def test_punctuation_joins_its_neighbour() -> None:
    assert merge_punctuations([" Hello", ",", " (", "yes", ")"]) == [
        " Hello,",
        "",
        "",
        " (yes)",
        "",
    ]


def test_aligned_words_take_the_times_where_their_tokens_start() -> None:
    # Rows: <|startoftranscript|>, <|notimestamps|>, " Hello", ",", " wor", "ld", <|endoftext|>.
    # A row attends where the token it predicts is spoken: " Hello" over positions 0-9, ","
    # 10-14, " wor" 15-24, "ld" 25-34, the end 35-39 (20 ms each).
    weights = np.full((1, 7, 40), 0.01, dtype=np.float32)
    for row, (first, last) in enumerate([(0, 9), (10, 14), (15, 24), (25, 34), (35, 39)], 1):
        weights[0, row, first : last + 1] = 1.0
    words = align_words(weights, [0, 1, 2, 3], [0.9, 0.5, 0.8, 0.6], 80, TABLE, EOT)
    assert [w.word for w in words] == ["Hello,", "world"]
    assert [(w.start, w.end) for w in words] == [(0.0, 0.2), (0.3, 0.7)]
    assert words[1].probability == 0.7
