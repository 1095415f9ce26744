# ruff: noqa: I001, F401, E231, E225, W291, W293, E302, E303, E128
# Genome's "Explaining Models for Images" example (seed 003), verbatim except the import lines
# and the weights: ImageNet weights need a download, so MobileNetV2 is built with weights=None
# (the model loader; pass weights='imagenet' where the network allows).

#... other imports
from airgenome.sdk import ModelStore
from airgenome.sdk import GenomeEstimator


from tensorflow.keras.applications.mobilenet_v2 import MobileNetV2
from tensorflow.keras.applications.mobilenet_v2 import preprocess_input


canonicalName = "/classifier/mobilenet/v2"

# load keras pre-trained MobileNetV2 model
model = MobileNetV2(weights=None, include_top=True)


genome = GenomeEstimator(model,
    data_preprocessor = preprocess_input, # function for preprocessing image input
    modality = "image")




model_store = ModelStore()

# save model to model store
model_store.save_model(genome, {
    "canonicalName": canonicalName,
    "application": "search",
    "pipelineName": "pipeline-keras-test",
    "pipelineRunId": "run-id", # or use the env variable to get the run id from the sequencer
    "pipelineStage": "image-class-step",
    "framework": "keras",
    "inputModality": "image", # note here the difference with the example with tabular data.
    "versionName": "test.1.2",
    "predictionType": "classification"
})
