"""A writer process for the parallel-writers test: runs an evaluation `count` times via the SDK."""

from __future__ import annotations

from airgenome.evaluations import GenomeEvaluationRun, evaluation, task
from airgenome.evaluations.store import get_evaluation_store


@evaluation(name="parallel/writer", versionName="1.0")
class WriterEvaluation(GenomeEvaluationRun):
    @task(dataset={"ref": "mllake://datasets/parallel"})
    def score(self, t, dataset):
        t.add_metric("accuracy", 0.9).expect(0.9, var="accuracy").toBeGreater(0.5)
        t.prototype(ref="row-1").add_metric("p", 1.0).expect(1.0).toBe(1.0)


def write_runs(uri: str, writer: int, count: int) -> list[str]:
    store = get_evaluation_store(uri)
    return [WriterEvaluation(store, target=f"writer-{writer}/1").to_run().id for _ in range(count)]
