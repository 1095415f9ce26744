"""Small fitted models on generated data (no downloads), shared by tests and bench/."""

from __future__ import annotations

from typing import Any

import numpy as np

FEATURES = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Lat", "Long"]


def tabular_data(rows: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(FEATURES)))
    y = 2.0 * x[:, 0] - x[:, 1] + 0.5 * x[:, 2] * x[:, 3] + rng.normal(scale=0.1, size=rows)
    return x, y


def forest(n_estimators: int = 30, max_depth: int = 5) -> Any:
    from sklearn.ensemble import RandomForestRegressor

    x, y = tabular_data()
    return RandomForestRegressor(n_estimators=n_estimators, max_depth=max_depth, random_state=0).fit(x, y)


def forest_classifier() -> Any:
    from sklearn.ensemble import RandomForestClassifier

    x, y = tabular_data()
    labels = np.digitize(y, [-1.0, 1.0])
    return RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0).fit(x, labels)


def xgboost_regressor() -> Any:
    import xgboost

    x, y = tabular_data()
    return xgboost.XGBRegressor(n_estimators=30, max_depth=4, random_state=0).fit(x, y)


def logistic() -> Any:
    from sklearn.linear_model import LogisticRegression

    x, y = tabular_data()
    return LogisticRegression(max_iter=500).fit(x, (y > 0).astype(int))


def knn() -> Any:
    """A model no tree or linear explainer knows: the kernel fallback."""
    from sklearn.neighbors import KNeighborsRegressor

    x, y = tabular_data()
    return KNeighborsRegressor(n_neighbors=5).fit(x, y)


# ---- text: 4 topics, graded topic words over a Zipf filler vocabulary ----------------

TOPICS = ["space", "medicine", "graphics", "religion"]


def _topic_words() -> dict[str, list[str]]:
    return {topic: [f"{topic[:3]}{i:02d}" for i in range(25)] for topic in TOPICS}


def text_corpus(docs: int = 800, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    topic_words = _topic_words()
    filler = [f"w{i:04d}" for i in range(1500)]
    zipf = 1.0 / np.arange(1, len(filler) + 1)
    zipf /= zipf.sum()
    graded = 1.0 / np.arange(1, 26) ** 0.7
    graded /= graded.sum()
    texts, labels = [], []
    for _ in range(docs):
        label = int(rng.integers(len(TOPICS)))
        length = int(rng.integers(40, 120))
        words = list(rng.choice(filler, size=length, p=zipf))
        own = rng.choice(topic_words[TOPICS[label]], size=max(3, length // 8), p=graded)
        other = rng.choice(topic_words[TOPICS[int(rng.integers(len(TOPICS)))]], size=length // 30 + 1)
        words += list(own) + list(other)
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, np.asarray(labels)


def text_pipeline(kind: str = "forest") -> Any:
    """Genome's example shape: tf-idf (+ LSA) and a forest, or tf-idf and a logistic model."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts, labels = text_corpus()
    if kind == "forest":
        pipe = make_pipeline(
            TfidfVectorizer(min_df=3, ngram_range=(1, 2)),
            TruncatedSVD(n_components=100, n_iter=7, random_state=42),
            RandomForestClassifier(n_estimators=205, max_depth=5, random_state=0),
        )
    else:
        pipe = make_pipeline(TfidfVectorizer(min_df=2), LogisticRegression(max_iter=1000))
    return pipe.fit(texts, labels)


# ---- image: a small CNN that finds a bright square on a dark noisy background -----------

IMAGE_SIZE = 32


def planted_images(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Half the images carry an 8x8 bright square at a random place (label 1)."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 60, size=(count, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")
    labels = np.zeros(count, dtype=int)
    corners = []
    for i in range(count):
        top, left = (int(v) for v in rng.integers(0, IMAGE_SIZE - 8, size=2))
        corners.append((top, left))
        if i % 2 == 0:
            images[i, top : top + 8, left : left + 8, :] = 250.0
            labels[i] = 1
    return images, labels, corners


def cnn() -> Any:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3)),
            keras.layers.Rescaling(1.0 / 255),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
            keras.layers.GlobalMaxPooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    images, labels, _ = planted_images(256)
    model.fit(images, labels, epochs=6, batch_size=32, verbose=0)
    return model
