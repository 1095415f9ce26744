"""Genome's evaluation example from its README (seed 003), with only the imports changed."""

import logging

from airgenome.evaluations import GenomeEvaluationRun, evaluation, task


# use the @evaluation annotation to declare a class as an evaluation
@evaluation(
  name="test/skill/annotations/better-than-last",
  versionName="1.2.sklearn",
  code = "ensemble-training:local.1",
  targetModel="target-id")
class TrainTestEvaluation(GenomeEvaluationRun):


    # use the @task annotation to declare a method as an evaluation task
    # task metadata for functions annotated this way, will be stored in
    # our Evaluation Store
    @task(dataset={"ref": "mllake://datasets/benchmark/california-housing-test"})
    def evaluateTrainTestSplit(self, t, dataset):
        my_split = 0.7

        t.add_metric("f2", 2.34)
        t.expect(my_split, var="my_split").toBeLess(0.76)

    # how to test for errors
    @task(dataset={"ref": "mllake://datasets/benchmark/california-housing-test"})
    def checkError(self, t, dataset):
        my_split = 0.7  # noqa: F841 - as in Genome's example

        t.add_metric("f2", 2.34)
        t.expect(lambda: 5/0, var="myFunction").toRaise(ZeroDivisionError)


    # how to test for specific records in a dataset (named prototypes)
    # behaving in a certain way for a model
    @task(dataset={"ref": "mllake://datasets/benchmark/california-housing-test"})
    def prototypeTest(self, t, dataset):

        logging.info("running evaluation task:")
        logging.info(t)

        intersect = 0.82
        t.add_metric("intersection", intersect) \
          .expect(intersect, var="intersection") \
          .toBeGreater(0.52)

        # now some dummy prototypes
        for record in range(5):
            m = record * 1.24
            t.prototype(ref="id-123") \
              .add_metric("f1", record * 2.34) \
              .expect(m, var="f1") \
              .toBe([1,0], var="metric")
