# ruff: noqa: I001, F401, E231, E225, W291, W293, E302, E303, E128
# Genome's "Explaining Models for text" example (seed 003), verbatim except the import lines
# and the dataset loader: 20 newsgroups needs a download, so `fetch_20newsgroups` here returns
# generated documents in the same four categories.

#... other imports
from sklearn.decomposition import TruncatedSVD
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.utils import Bunch

from airgenome.sdk import ModelStore
from airgenome.sdk import GenomeEstimator
from tests.models.textdata import documents


def fetch_20newsgroups(subset, categories, shuffle, random_state, remove):
    texts, labels, names = documents(per_topic=60, seed=random_state)
    return Bunch(data=texts, target=labels, target_names=names)


canonicalName = "/classifier/text/randomforest"

categories = ['alt.atheism', 'soc.religion.christian',
          'comp.graphics', 'sci.med']

twenty_train = fetch_20newsgroups(
  subset='train',
  categories=categories,
  shuffle=True,
  random_state=42,
  remove=('headers', 'footers'),
)



#text classification pipeline is composed out of tfid + LSA + a final random forest
vec = TfidfVectorizer(min_df=3, stop_words='english',
                  ngram_range=(1, 2))
svd = TruncatedSVD(n_components=100, n_iter=7, random_state=42)
lsa = make_pipeline(vec, svd)
forest_model = RandomForestClassifier(n_estimators=205,max_depth=5)
pipe = make_pipeline(lsa, forest_model)

# fit the primary text model
pipe.fit(twenty_train.data, twenty_train.target)


model_store = ModelStore()

model = GenomeEstimator(pipe, # passing the model to genome estimator
    estimator_predict = "predict_proba", # provide prediction function name of the pipeline/estimator to use for training the surrogate model
    target_classes = twenty_train.target_names,
    modality = "text")


# save genome estimator to model store
model_store.save_model(model, {
  "canonicalName": canonicalName,
  "application": "search",
  "pipelineName": "pipeline-text-test",
  "pipelineRunId": "run-1-text",
  "pipelineStage": "model",
  "framework": "sklearn",
  "inputModality": "text",
  "versionName": "sklearn-text.1.2.2",
  "predictionType": "classification"
})
