# ruff: noqa: I001, F401, E231, E225, W291, W293, E302, E303, E128
# Genome's "Explaining Models on Tabular Data" example (seed 003), verbatim except:
# - the import lines (airgenome.sdk instead of .modelstore.*; numpy and os, which the seed
#   leaves under "other imports"),
# - the dataset loader: California housing needs a download, so the loader returns
#   scikit-learn's bundled diabetes data (tiled to 1326 rows so the seed's 1200-row sample fits),
# - the step parameters the seed uses without showing where they come from, read here from
#   the sequencer's step environment.

# other imports
import os

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.ensemble import RandomForestRegressor

# data
from sklearn.datasets import fetch_20newsgroups
from sklearn.datasets import load_diabetes
from sklearn.utils import Bunch


from airgenome.sdk import ModelStore
from airgenome.sdk import GenomeEstimator


def fetch_california_housing():
    diabetes = load_diabetes()
    return Bunch(
        data=np.tile(diabetes.data, (3, 1)),
        target=np.tile(diabetes.target, 3),
        feature_names=diabetes.feature_names,
    )


canonicalName = os.environ["CANONICAL_NAME"]
application_parameter = os.environ.get("APPLICATION")
pipelinename_parameter = os.environ.get("PIPELINE_NAME")
pipelinerun_parameter = os.environ.get("PIPELINE_RUNID")
stepname_parameter = os.environ.get("STEP_NAME")


# using the california housing dataset
dataset_train=fetch_california_housing()

# creating and fitting an sklearn random forest
forest_model = RandomForestRegressor(n_estimators=120,max_depth=5)
forest_model = forest_model.fit(dataset_train.data, dataset_train.target)


model_store = ModelStore()



# creating a genome model
# an explainer will be chosen based on modality and model type
genome_model = GenomeEstimator(forest_model,
      target_classes=["price"],
      feature_names=dataset_train.feature_names,
      modality="tabular")



# creating global model explanations via invoking sampleExplanations of the model
# for a representative data sample (sample sizes in the range of 1-3k work well)
data_to_explain = dataset_train.data[ np.random.choice( dataset_train.data.shape[0], 1200, replace=False), : ]

# generating and storing explanations in the genome model on a sample dataset
# a global view of model explanations is derived from the sample dataset
# the global model explanations are served in realtime via our realtime explainer
genome_model.explainer.sampleExplanations(data_to_explain)


# save the genome model in model store
model_store.save_model(genome_model, {
    "canonicalName": canonicalName,
    "application": application_parameter or "search",
    "pipelineName": pipelinename_parameter or "pipeline-keras-test",
    "pipelineRunId": pipelinerun_parameter,
    "pipelineStage": stepname_parameter or "model",
    "framework": "sklearn",
    "inputModality": "tabular",
    "versionName": "1.2.3"
  })
