"""Exact shortcut for LIME on sklearn pipelines that start with a word Count/Tfidf vectorizer.

LIME removes every occurrence of some words and re-reads the text; for a word vectorizer
that is the same as dropping those words' tokens from the token sequence and recounting
n-grams. We build the term-count matrix of all perturbed texts straight from the masks
(numpy, no re-tokenising 5000 strings, which is ~80 % of lime's time) and hand it to the
rest of the pipeline. A self-check compares a few rows with the vectorizer's own
`transform`; any mismatch or unsupported setting returns None and the caller takes the
ordinary path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

CHECK_ROWS = 6


def vectorized_predictor(
    pipeline: Any, method: str, indexed: Any
) -> Callable[[np.ndarray], np.ndarray] | None:
    """A function masks -> probabilities equal to `method(texts)`, or None if unsupported."""
    steps = getattr(pipeline, "steps", None)
    if not steps:
        return None
    vectorizer = steps[0][1]
    if not _supported(vectorizer):
        return None
    tokens = _aligned_tokens(vectorizer, indexed)
    if tokens is None:
        return None
    strings, word_of_token = tokens
    rest = pipeline[1:]
    predict = getattr(rest, method, None)
    if not callable(predict):
        return None
    vocabulary: dict[str, int] = vectorizer.vocabulary_
    min_n, max_n = vectorizer.ngram_range
    unique_strings, string_id = np.unique(np.asarray(strings, dtype=object), return_inverse=True)
    base = max(len(unique_strings), 1)
    if base**max_n >= 2**62:
        return None
    is_tfidf = hasattr(vectorizer, "_tfidf")
    lookups = {
        n: _lookup(n, string_id.ravel(), base, unique_strings, vocabulary) for n in range(min_n, max_n + 1)
    }

    def counts(masks: np.ndarray) -> Any:
        from scipy import sparse

        kept = masks[:, word_of_token]
        rows, cols = np.nonzero(kept)
        ids = string_id.ravel()[cols]
        out_rows: list[np.ndarray] = []
        out_cols: list[np.ndarray] = []
        for n in range(min_n, max_n + 1):
            if len(rows) < n:
                continue
            span = len(rows) - n + 1
            same = rows[:span] == rows[n - 1 :]
            key = np.zeros(span, dtype=np.int64)
            for i in range(n):
                key = key * base + ids[i : i + span]
            key, start_rows = key[same], rows[:span][same]
            columns = lookups[n](key)
            known = columns >= 0
            out_rows.append(start_rows[known])
            out_cols.append(columns[known])
        r = np.concatenate(out_rows) if out_rows else np.zeros(0, dtype=np.int64)
        c = np.concatenate(out_cols) if out_cols else np.zeros(0, dtype=np.int64)
        matrix = sparse.csr_matrix(
            (np.ones(len(r), dtype=vectorizer.dtype), (r, c)),
            shape=(masks.shape[0], len(vocabulary)),
        )
        matrix.sum_duplicates()
        if vectorizer.binary:
            matrix.data[:] = 1
        return vectorizer._tfidf.transform(matrix, copy=False) if is_tfidf else matrix

    def run(masks: np.ndarray) -> np.ndarray:
        return np.asarray(predict(counts(masks)), dtype=float)

    run.counts = counts  # type: ignore[attr-defined]
    return run


def self_check(
    counts: Callable[[np.ndarray], Any], vectorizer: Any, masks: np.ndarray, documents: list[str]
) -> bool:
    built = counts(masks)
    reference = vectorizer.transform(documents)
    diff = abs(built - reference)
    return bool(diff.max() < 1e-9) if diff.nnz else True


def _lookup(
    n: int, ids: np.ndarray, base: int, strings: np.ndarray, vocabulary: dict[str, int]
) -> Callable[[np.ndarray], np.ndarray]:
    """key array -> vocabulary column (or -1), for the n-grams this text can produce.

    Uni- and bigrams: every candidate (tokens i < j in order) is looked up once, then keys
    are matched with a binary search. Longer n-grams: look up the distinct keys seen.
    """
    if n <= 2 and len(ids) <= 3000:
        names = [str(value) for value in strings]
        if n == 1:
            candidates = np.unique(ids)
            grams = [names[k] for k in candidates.tolist()]
        else:
            i, j = np.triu_indices(len(ids), k=1)
            candidates = np.unique(ids[i] * base + ids[j])
            grams = [f"{names[k // base]} {names[k % base]}" for k in candidates.tolist()]
        columns = np.array([vocabulary.get(gram, -1) for gram in grams], dtype=np.int64)

        def by_search(keys: np.ndarray) -> np.ndarray:
            if len(candidates) == 0:
                return np.full(len(keys), -1, dtype=np.int64)
            return np.asarray(columns[np.searchsorted(candidates, keys)])

        return by_search

    def by_unique(keys: np.ndarray) -> np.ndarray:
        distinct, inverse = np.unique(keys, return_inverse=True)
        found = np.array(
            [vocabulary.get(_gram(int(k), n, base, strings), -1) for k in distinct],
            dtype=np.int64,
        )
        return np.asarray(found[inverse.ravel()])

    return by_unique


def _gram(key: int, n: int, base: int, strings: np.ndarray) -> str:
    parts = []
    for _ in range(n):
        key, index = divmod(key, base)
        parts.append(str(strings[index]))
    return " ".join(reversed(parts))


def _supported(vectorizer: Any) -> bool:
    from sklearn.feature_extraction.text import CountVectorizer

    if not isinstance(vectorizer, CountVectorizer):  # TfidfVectorizer is one too
        return False
    return (
        vectorizer.analyzer == "word"
        and vectorizer.input == "content"
        and vectorizer.tokenizer is None
        and vectorizer.preprocessor is None
        and vectorizer.strip_accents is None
        and hasattr(vectorizer, "vocabulary_")
    )


def _aligned_tokens(vectorizer: Any, indexed: Any) -> tuple[list[str], np.ndarray] | None:
    """The vectorizer's tokens of the text, each tied to the lime word it is part of."""
    raw: str = indexed.raw_string()
    text = vectorizer.build_preprocessor()(raw)
    if len(text) != len(raw):
        return None
    piece_at = {int(start): p for p, start in enumerate(indexed.string_start)}
    word_of_piece = np.full(len(indexed.as_list), -1)
    for w, positions in enumerate(indexed.positions):
        word_of_piece[positions] = w
    stop = vectorizer.get_stop_words() or frozenset()
    strings: list[str] = []
    words: list[int] = []
    pattern = re.compile(vectorizer.token_pattern)
    if pattern.groups:
        return None
    for match in pattern.finditer(text):
        piece = piece_at.get(match.start())
        if piece is None or len(indexed.as_list[piece]) != match.end() - match.start():
            return None  # a token that is not exactly one lime word: not ours to shortcut
        if word_of_piece[piece] < 0:
            return None
        token = match.group(0)
        if token in stop:
            continue
        strings.append(token)
        words.append(int(word_of_piece[piece]))
    return strings, np.asarray(words, dtype=np.int64)
