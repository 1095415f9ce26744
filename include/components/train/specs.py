"""Component specs of this area (registered by airgenome.components.catalogue). Keep this cheap to
import: parameter models only; implementations import their heavy libraries inside functions."""

from __future__ import annotations

from airgenome.components.registry import ComponentSpec, Port, Resources, lazy
from airgenome.components.train.images import ImageClassifierParameters
from airgenome.components.train.sklearn import SklearnTrainParameters

_IMAGES = "airgenome.components.train.images"
_SKLEARN = "airgenome.components.train.sklearn"

SPECS: tuple[ComponentSpec, ...] = (
    ComponentSpec(
        name="train.image-classifier",
        summary="train a Keras image classifier (MobileNetV2 as in CLAIMED, MobileNetV2's first blocks, or a "
        "small CNN that converges on CPUs) on class folders (split.json or a seeded 80/20 split); saves it "
        "to the model store with its training curves; uses a GPU when the step has one",
        load=lazy(_IMAGES, "train_image_classifier"),
        params=ImageClassifierParameters,
        inputs={"images": Port("images", "class folders <class>/<file>, optionally with split.json")},
        outputs={"model": Port("model", "the saved model version (keras)")},
        resources=Resources(cpu="2", memory="4Gi"),
        extra="image",
        aliases=("train.mobilenet-v2",),
        example={
            "architecture": "small-cnn",
            "image_shape": [64, 64, 1],
            "epochs": 8,
            "batch_size": 32,
            "optimizer": "adam",
            "learning_rate": 0.002,
            "loss": "categorical_crossentropy",
            "seed": 123,
        },
    ),
    ComponentSpec(
        name="train.sklearn",
        summary="train a scikit-learn or XGBoost estimator chosen by name from an allow-list on a table "
        "(hyper-parameters checked against the estimator at upload); saves it with its test scores",
        load=lazy(_SKLEARN, "train_sklearn"),
        params=SklearnTrainParameters,
        inputs={"table": Port("table", "training data with the target column")},
        outputs={"model": Port("model", "the saved model version")},
        example={
            "estimator": "gradient_boosting_classifier",
            "hyperparameters": {"n_estimators": 100, "max_depth": 3, "learning_rate": 0.1},
            "target": "target",
            "test_size": 0.2,
        },
    ),
)
