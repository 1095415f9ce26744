"""Genome's README evaluation example runs unchanged and is stored exactly as judged."""

from __future__ import annotations

from airgenome.evaluations import FAIL, PASS, EvaluationStore
from tests.evaluations.genome_example import TrainTestEvaluation


def test_example_runs_as_written_and_is_stored(store: EvaluationStore) -> None:
    run = TrainTestEvaluation(store, target="housing.model/3").to_run()

    assert [(t.position, t.name, t.kind, t.parent, t.status) for t in run.tasks] == [
        (0, "evaluateTrainTestSplit", "task", None, PASS),
        (1, "checkError", "task", None, PASS),
        (2, "prototypeTest", "task", None, PASS),
        (3, "prototypeTest", "prototype", 2, FAIL),
        (4, "prototypeTest", "prototype", 2, FAIL),
        (5, "prototypeTest", "prototype", 2, FAIL),
        (6, "prototypeTest", "prototype", 2, FAIL),
        (7, "prototypeTest", "prototype", 2, FAIL),
    ]
    assert run.status == FAIL
    assert run.name == "test/skill/annotations/better-than-last"
    assert run.version_name == "1.2.sklearn"
    assert run.code == "ensemble-training:local.1"
    assert run.target_model.id == "housing.model/3"  # the run's target overrides targetModel

    recipes = [[e.recipe for e in t.expectations] for t in run.tasks]
    assert recipes == [
        ["{my_split:0.7} < 0.76"],
        ["{myFunction:<lambda>} raises ZeroDivisionError"],
        ["{intersection:0.82} > 0.52"],
        ["{f1:0.0} = {metric:[1, 0]}"],
        ["{f1:1.24} = {metric:[1, 0]}"],
        ["{f1:2.48} = {metric:[1, 0]}"],
        ["{f1:3.7199999999999998} = {metric:[1, 0]}"],
        ["{f1:4.96} = {metric:[1, 0]}"],
    ]
    assert [t.metrics for t in run.tasks] == [
        {"f2": 2.34},
        {"f2": 2.34},
        {"intersection": 0.82},
        *({"f1": record * 2.34} for record in range(5)),
    ]
    assert {t.prototype_ref["ref"] for t in run.tasks if t.prototype_ref} == {"id-123"}
    assert all(
        t.data_ref == {"ref": "mllake://datasets/benchmark/california-housing-test", "refType": "mllake"}
        for t in run.tasks
    )

    assert store.get(run.id) == run


def test_class_target_model_is_the_default_target(store: EvaluationStore) -> None:
    run = TrainTestEvaluation(store).to_run()
    assert run.target_model.id == "target-id"
    assert [s.id for s in store.search(model_id="target-id")] == [run.id]


def test_default_store_comes_from_settings(monkeypatch, tmp_path) -> None:
    from airgenome.evaluations.store import get_evaluation_store

    uri = f"sqlite:///{tmp_path / 'from-settings.db'}"
    monkeypatch.setenv("AIRGENOME_EVALUATION_STORE_URI", uri)
    run = TrainTestEvaluation(None, target="m/1").to_run()  # Genome passes None for the store
    assert (tmp_path / "from-settings.db").exists()
    assert get_evaluation_store(uri).get(run.id).status == FAIL


def _documents(per_topic: int = 30) -> tuple[list[str], list[int], list[str]]:
    """Generated posts in four topics (20 newsgroups needs a download)."""
    import random

    topics = {
        "alt.atheism": "god belief atheism religion argument evidence faith reason morality",
        "soc.religion.christian": "jesus christ church prayer gospel bible christian love grace",
        "comp.graphics": "image pixel render graphics polygon texture shader opengl jpeg",
        "sci.med": "patient doctor disease treatment symptom medicine clinical drug therapy",
    }
    rng = random.Random(42)
    texts, labels = [], []
    for label, words in enumerate(topics.values()):
        for _ in range(per_topic):
            texts.append(" ".join(rng.choice(words.split()) for _ in range(20)))
            labels.append(label)
    return texts, labels, list(topics)


def test_example_with_the_model_store(isolated_home) -> None:
    """The README flow: train a text pipeline, save it, evaluate the saved version by its id."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    from airgenome.evaluations.store import get_evaluation_store
    from airgenome.sdk import GenomeEstimator, ModelStore

    model_store = ModelStore()
    texts, target, target_names = _documents()
    vec = TfidfVectorizer(min_df=3, stop_words="english", ngram_range=(1, 2))
    svd = TruncatedSVD(n_components=20, n_iter=7, random_state=42)
    lsa = make_pipeline(vec, svd)
    forest_model = RandomForestClassifier(n_estimators=20, max_depth=5)
    pipe = make_pipeline(lsa, forest_model)
    pipe.fit(texts, target)
    model = GenomeEstimator(pipe, estimator_predict="predict_proba", target_classes=target_names, modality="text")
    saved_model = model_store.save_model(model, {
        "canonicalName": "/search/text/lsa-forest",
        "application": "search",
        "pipelineName": "pipeline-keras-test",
        "pipelineRunId": "run-1",
        "pipelineStage": "model",
        "framework": "sklearn",
        "inputModality": "text",
        "versionName": "sklearn-text.1.2.2",
        "predictionType": "classification",
    })

    split_eval = TrainTestEvaluation(None, target=saved_model["id"])
    run = split_eval.to_run()

    assert run.target_model.to_dict() == {
        "id": saved_model["id"],
        "name": "/search/text/lsa-forest",
        "version": str(saved_model["version"]),
    }
    store = get_evaluation_store()  # where the SDK saved it: the settings' evaluation store
    assert store.get(run.id) == run
    assert [s.id for s in store.search(model_id=saved_model["id"])] == [run.id]
    assert [s.id for s in store.search(model_name="/search/text/lsa-forest")] == [run.id]
    # the model card lists the run through store.search
    from airgenome.evaluations.cards import model_card

    card = model_card(model_store, model_store.get_model(saved_model["id"]))
    assert [r["id"] for r in card.evaluations.runs] == [run.id]
