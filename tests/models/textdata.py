"""Generated documents in four topics (stands in for 20 newsgroups, which needs a download)."""

from __future__ import annotations

import random

TOPICS = {
    "alt.atheism": "god belief atheism religion argument evidence faith reason morality church bible exist",
    "soc.religion.christian": "jesus christ church prayer gospel bible faith christian love sin heaven grace",
    "comp.graphics": "image pixel render graphics polygon texture shader opengl color format jpeg screen",
    "sci.med": "patient doctor disease treatment symptom medicine clinical drug pain health study therapy",
}
COMMON = "the a and of to in is that it for on with as this was are be have not but"


def documents(per_topic: int = 40, seed: int = 7) -> tuple[list[str], list[int], list[str]]:
    rng = random.Random(seed)
    names = list(TOPICS)
    texts, labels = [], []
    for label, name in enumerate(names):
        words = TOPICS[name].split()
        common = COMMON.split()
        for _ in range(per_topic):
            body = [rng.choice(words) for _ in range(25)] + [rng.choice(common) for _ in range(15)]
            rng.shuffle(body)
            texts.append(" ".join(body))
            labels.append(label)
    order = list(range(len(texts)))
    rng.shuffle(order)
    return [texts[i] for i in order], [labels[i] for i in order], names
