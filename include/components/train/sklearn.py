"""``train.sklearn``: a scikit-learn (or XGBoost) estimator from an allow-list, on a table.

The estimator is chosen by name from `ESTIMATORS`; its hyper-parameters are checked at
upload against a static table of the names and types each estimator accepts (a test
checks every name against the estimator's own ``__init__`` signature), so a typo or a
wrong type is refused with the path ``parameters.hyperparameters.<name>`` before anything
runs. ``random_state`` is the component's own parameter (applied where the estimator has
one). Nothing is imported by name from a user's string: names map to classes here.

Feature columns that are not numeric or boolean are one-hot encoded inside a scikit-learn
``Pipeline`` (the stored model takes the raw table's columns). Classifiers' target classes
are stored as strings in ``estimator.classes_`` order (XGBoost: labels are encoded to
0..n-1 and the class names kept in that order).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationInfo,
    create_model,
    field_validator,
)

from airgenome.components.context import ComponentContext, ComponentFailed, Result

# -------------------------------------------------------------------------- hyper-parameters

PositiveInt = Annotated[StrictInt, Field(ge=1)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]
Fraction = Annotated[float, Field(gt=0.0, le=1.0)]
SplitSize = Annotated[StrictInt, Field(ge=2)] | Fraction
LeafSize = PositiveInt | Annotated[float, Field(gt=0.0, lt=0.5)]
MaxFeatures = Literal["sqrt", "log2"] | PositiveInt | Fraction | None
ClassWeight = Literal["balanced"] | None
Seed = Annotated[StrictInt, Field(ge=0, le=2**32 - 1)]

_TREE = {
    "max_depth": PositiveInt | None,
    "min_samples_split": SplitSize,
    "min_samples_leaf": LeafSize,
    "min_weight_fraction_leaf": Annotated[float, Field(ge=0.0, le=0.5)],
    "max_features": MaxFeatures,
    "max_leaf_nodes": Annotated[StrictInt, Field(ge=2)] | None,
    "min_impurity_decrease": NonNegative,
    "ccp_alpha": NonNegative,
}
_FOREST = {
    **_TREE,
    "n_estimators": Annotated[StrictInt, Field(ge=1, le=5000)],
    "bootstrap": StrictBool,
    "oob_score": StrictBool,
    "max_samples": PositiveInt | Fraction | None,
    "n_jobs": StrictInt | None,
}
_CLASSIFIER_CRITERION = Literal["gini", "entropy", "log_loss"]
_REGRESSOR_CRITERION = Literal["squared_error", "absolute_error", "friedman_mse", "poisson"]
_GRADIENT_BOOSTING = {
    **_TREE,
    "learning_rate": Positive,
    "n_estimators": Annotated[StrictInt, Field(ge=1, le=5000)],
    "subsample": Fraction,
    "criterion": Literal["friedman_mse", "squared_error"],
    "validation_fraction": Annotated[float, Field(gt=0.0, lt=1.0)],
    "n_iter_no_change": PositiveInt | None,
    "tol": Positive,
}
_HIST = {
    "learning_rate": Positive,
    "max_iter": Annotated[StrictInt, Field(ge=1, le=10000)],
    "max_leaf_nodes": Annotated[StrictInt, Field(ge=2)] | None,
    "max_depth": PositiveInt | None,
    "min_samples_leaf": PositiveInt,
    "l2_regularization": NonNegative,
    "max_features": Fraction,
    "max_bins": Annotated[StrictInt, Field(ge=2, le=255)],
    "early_stopping": Literal["auto"] | StrictBool,
    "validation_fraction": Annotated[float, Field(gt=0.0, lt=1.0)] | None,
    "n_iter_no_change": PositiveInt,
    "tol": NonNegative,
}
_KERNEL = {
    "C": Positive,
    "kernel": Literal["linear", "poly", "rbf", "sigmoid"],
    "degree": Annotated[StrictInt, Field(ge=0, le=20)],
    "gamma": Literal["scale", "auto"] | Positive,
    "coef0": float,
    "shrinking": StrictBool,
    "tol": Positive,
    "max_iter": Annotated[StrictInt, Field(ge=-1)],
}
_NEIGHBOURS = {
    "n_neighbors": Annotated[StrictInt, Field(ge=1, le=10000)],
    "weights": Literal["uniform", "distance"],
    "algorithm": Literal["auto", "ball_tree", "kd_tree", "brute"],
    "leaf_size": PositiveInt,
    "p": Positive,
    "metric": Literal["minkowski", "euclidean", "manhattan", "chebyshev", "cosine"],
    "n_jobs": StrictInt | None,
}
_XGBOOST = {
    "n_estimators": Annotated[StrictInt, Field(ge=1, le=10000)],
    "max_depth": Annotated[StrictInt, Field(ge=0, le=64)] | None,
    "max_leaves": Annotated[StrictInt, Field(ge=0)] | None,
    "max_bin": Annotated[StrictInt, Field(ge=2)] | None,
    "grow_policy": Literal["depthwise", "lossguide"] | None,
    "learning_rate": Positive | None,
    "tree_method": Literal["hist", "approx", "exact", "auto"] | None,
    "n_jobs": StrictInt | None,
    "gamma": NonNegative | None,
    "min_child_weight": NonNegative | None,
    "max_delta_step": NonNegative | None,
    "subsample": Fraction | None,
    "colsample_bytree": Fraction | None,
    "colsample_bylevel": Fraction | None,
    "colsample_bynode": Fraction | None,
    "reg_alpha": NonNegative | None,
    "reg_lambda": NonNegative | None,
    "scale_pos_weight": Positive | None,
    "num_parallel_tree": PositiveInt | None,
}


@dataclass(frozen=True)
class EstimatorEntry:
    module: str
    cls: str
    task: str  # classification | regression
    hyperparameters: dict[str, Any]
    seeded: bool = True  # has random_state


ESTIMATORS: dict[str, EstimatorEntry] = {
    "random_forest_classifier": EstimatorEntry(
        "sklearn.ensemble", "RandomForestClassifier", "classification",
        {**_FOREST, "criterion": _CLASSIFIER_CRITERION,
         "class_weight": Literal["balanced", "balanced_subsample"] | None},
    ),
    "random_forest_regressor": EstimatorEntry(
        "sklearn.ensemble", "RandomForestRegressor", "regression", {**_FOREST, "criterion": _REGRESSOR_CRITERION}
    ),
    "extra_trees_classifier": EstimatorEntry(
        "sklearn.ensemble", "ExtraTreesClassifier", "classification",
        {**_FOREST, "criterion": _CLASSIFIER_CRITERION,
         "class_weight": Literal["balanced", "balanced_subsample"] | None},
    ),
    "extra_trees_regressor": EstimatorEntry(
        "sklearn.ensemble", "ExtraTreesRegressor", "regression", {**_FOREST, "criterion": _REGRESSOR_CRITERION}
    ),
    "gradient_boosting_classifier": EstimatorEntry(
        "sklearn.ensemble", "GradientBoostingClassifier", "classification",
        {**_GRADIENT_BOOSTING, "loss": Literal["log_loss", "exponential"]},
    ),
    "gradient_boosting_regressor": EstimatorEntry(
        "sklearn.ensemble", "GradientBoostingRegressor", "regression",
        {**_GRADIENT_BOOSTING, "loss": Literal["squared_error", "absolute_error", "huber", "quantile"],
         "alpha": Annotated[float, Field(gt=0.0, lt=1.0)]},
    ),
    "hist_gradient_boosting_classifier": EstimatorEntry(
        "sklearn.ensemble", "HistGradientBoostingClassifier", "classification",
        {**_HIST, "class_weight": ClassWeight},
    ),
    "hist_gradient_boosting_regressor": EstimatorEntry(
        "sklearn.ensemble", "HistGradientBoostingRegressor", "regression",
        {**_HIST, "loss": Literal["squared_error", "absolute_error", "gamma", "poisson"]},
    ),
    "decision_tree_classifier": EstimatorEntry(
        "sklearn.tree", "DecisionTreeClassifier", "classification",
        {**_TREE, "criterion": _CLASSIFIER_CRITERION, "splitter": Literal["best", "random"],
         "class_weight": ClassWeight},
    ),
    "decision_tree_regressor": EstimatorEntry(
        "sklearn.tree", "DecisionTreeRegressor", "regression",
        {**_TREE, "criterion": _REGRESSOR_CRITERION, "splitter": Literal["best", "random"]},
    ),
    "logistic_regression": EstimatorEntry(
        "sklearn.linear_model", "LogisticRegression", "classification",
        {"C": Positive, "l1_ratio": Annotated[float, Field(ge=0.0, le=1.0)] | None,
         "fit_intercept": StrictBool, "class_weight": ClassWeight,
         "solver": Literal["lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga"],
         "max_iter": Annotated[StrictInt, Field(ge=1, le=100000)], "tol": Positive},
    ),
    "linear_regression": EstimatorEntry(
        "sklearn.linear_model", "LinearRegression", "regression",
        {"fit_intercept": StrictBool, "positive": StrictBool}, seeded=False,
    ),
    "ridge": EstimatorEntry(
        "sklearn.linear_model", "Ridge", "regression",
        {"alpha": NonNegative, "fit_intercept": StrictBool, "positive": StrictBool,
         "max_iter": PositiveInt | None, "tol": Positive,
         "solver": Literal["auto", "svd", "cholesky", "lsqr", "sparse_cg", "sag", "saga", "lbfgs"]},
    ),
    "lasso": EstimatorEntry(
        "sklearn.linear_model", "Lasso", "regression",
        {"alpha": NonNegative, "fit_intercept": StrictBool, "positive": StrictBool, "max_iter": PositiveInt,
         "tol": Positive, "selection": Literal["cyclic", "random"]},
    ),
    "svc": EstimatorEntry(
        "sklearn.svm", "SVC", "classification",
        {**_KERNEL, "probability": StrictBool, "class_weight": ClassWeight,
         "decision_function_shape": Literal["ovo", "ovr"], "break_ties": StrictBool},
    ),
    "svr": EstimatorEntry(
        "sklearn.svm", "SVR", "regression", {**_KERNEL, "epsilon": NonNegative}, seeded=False
    ),
    "k_neighbors_classifier": EstimatorEntry(
        "sklearn.neighbors", "KNeighborsClassifier", "classification", _NEIGHBOURS, seeded=False
    ),
    "k_neighbors_regressor": EstimatorEntry(
        "sklearn.neighbors", "KNeighborsRegressor", "regression", _NEIGHBOURS, seeded=False
    ),
    "xgboost_classifier": EstimatorEntry("xgboost", "XGBClassifier", "classification", _XGBOOST),
    "xgboost_regressor": EstimatorEntry("xgboost", "XGBRegressor", "regression", _XGBOOST),
}
EstimatorName = Literal[
    "random_forest_classifier", "random_forest_regressor", "extra_trees_classifier", "extra_trees_regressor",
    "gradient_boosting_classifier", "gradient_boosting_regressor", "hist_gradient_boosting_classifier",
    "hist_gradient_boosting_regressor", "decision_tree_classifier", "decision_tree_regressor",
    "logistic_regression", "linear_regression", "ridge", "lasso", "svc", "svr",
    "k_neighbors_classifier", "k_neighbors_regressor", "xgboost_classifier", "xgboost_regressor",
]  # fmt: skip


@functools.cache
def hyperparameter_model(estimator: str) -> type[BaseModel]:
    """The strict pydantic model of one estimator's allowed hyper-parameters (built on first use)."""
    entry = ESTIMATORS[estimator]
    fields: dict[str, Any] = {name: (kind, None) for name, kind in entry.hyperparameters.items()}
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        f"{estimator}_hyperparameters",
        __config__=ConfigDict(extra="forbid", strict=True),
        **fields,
    )
    return model


class SklearnTrainParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    estimator: EstimatorName = Field(
        default="random_forest_classifier",
        description="the estimator, by name from the allow-list (its task follows from the name)",
    )
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict,
        description="the estimator's own constructor arguments, checked by name and type at upload "
        "(see docs/components-train-evaluate.md for each estimator's list); random_state is the "
        "component's own parameter",
    )
    target: str = Field(default="target", min_length=1, max_length=200, description="target column of the table")
    features: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, max_length=10000, description="feature columns (default: every column but the target)"
    )
    test_size: float = Field(default=0.2, gt=0.0, lt=1.0, description="held-out share of the rows")
    stratify: bool = Field(default=True, description="classifiers: keep class shares in the test split")
    random_state: int = Field(default=0, ge=0, le=2**32 - 1, description="seeds the split and the estimator")
    canonical_name: str | None = Field(
        default=None, min_length=1, max_length=300, description="the model's canonicalName (default: the step's)"
    )
    version_name: str | None = Field(default=None, min_length=1, max_length=100, description="Genome's versionName")

    @field_validator("hyperparameters")
    @classmethod
    def _known_hyperparameters(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        estimator = info.data.get("estimator")
        if estimator not in ESTIMATORS:  # already refused by its own field
            return value
        # A ValidationError raised here keeps its locations: hyperparameters.<name>.
        checked = hyperparameter_model(estimator).model_validate(value)
        return checked.model_dump(exclude_unset=True)


# -------------------------------------------------------------------------- run


def _estimator_class(entry: EstimatorEntry) -> Any:
    import importlib

    return getattr(importlib.import_module(entry.module), entry.cls)


def _columns(frame: Any, params: SklearnTrainParameters) -> list[str]:
    if params.target not in frame.columns:
        raise ComponentFailed(
            f"parameters.target: column {params.target!r} is not in the table "
            f"(columns: {', '.join(map(str, frame.columns))[:500]})"
        )
    if params.features is None:
        features = [str(c) for c in frame.columns if c != params.target]
    else:
        missing = [c for c in params.features if c not in frame.columns]
        if missing:
            raise ComponentFailed(f"parameters.features: not in the table: {', '.join(missing)}")
        if params.target in params.features:
            raise ComponentFailed("parameters.features: the target column cannot be a feature")
        features = list(params.features)
    if not features:
        raise ComponentFailed("parameters.features: the table has no feature columns besides the target")
    return features


def _model_for(entry: EstimatorEntry, estimator: Any, frame: Any, features: list[str]) -> Any:
    """The estimator, or a Pipeline one-hot encoding the non-numeric feature columns."""
    import pandas as pd

    categorical = [
        c for c in features
        if not (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
    ]
    if not categorical:
        return estimator
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    encode = ColumnTransformer(
        [("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical)],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    return Pipeline([("encode", encode), ("estimator", estimator)])


def train_sklearn(ctx: ComponentContext, params: SklearnTrainParameters) -> Result:
    import time

    import numpy as np
    import pandas as pd
    from sklearn import metrics as skm
    from sklearn.model_selection import train_test_split

    from airgenome.components.files import read_table
    from airgenome.models.estimator import GenomeEstimator

    started = time.perf_counter()
    table = ctx.input("table")
    frame = read_table(table.uri)
    if len(frame) == 0:
        raise ComponentFailed("inputs.table: the table has no rows")
    features = _columns(frame, params)
    entry = ESTIMATORS[params.estimator]
    if frame[params.target].isna().any():
        raise ComponentFailed(
            f"parameters.target: column {params.target!r} has {int(frame[params.target].isna().sum())} "
            "missing values (filter them out first)"
        )
    x = frame[features]
    y = frame[params.target]
    classes: list[Any] | None = None
    if entry.task == "classification":
        if y.nunique() < 2:
            raise ComponentFailed(
                f"parameters.target: column {params.target!r} holds a single class; a classifier needs two"
            )
    elif not pd.api.types.is_numeric_dtype(y):
        raise ComponentFailed(
            f"parameters.target: {params.estimator} is a regressor; column {params.target!r} is not numeric"
        )
    stratify = None
    if entry.task == "classification" and params.stratify and y.value_counts().min() >= 2:
        stratify = y
    try:
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=params.test_size, random_state=params.random_state, stratify=stratify
        )
    except ValueError as error:
        raise ComponentFailed(f"parameters.test_size: {error}") from None
    if len(x_train) == 0 or len(x_test) == 0:
        raise ComponentFailed("parameters.test_size: leaves no rows to train or to test on")

    arguments = dict(params.hyperparameters)
    if entry.seeded:
        arguments["random_state"] = params.random_state
    estimator = _estimator_class(entry)(**arguments)
    encoder = None
    fit_y = y_train
    if params.estimator == "xgboost_classifier":  # XGBoost wants labels 0..n-1
        from sklearn.preprocessing import LabelEncoder

        encoder = LabelEncoder().fit(y)
        fit_y = encoder.transform(y_train)
    model = _model_for(entry, estimator, frame, features)
    fit_started = time.perf_counter()
    try:
        model.fit(x_train, fit_y)
    except ValueError as error:
        text = str(error)
        if "NaN" in text or "missing" in text.lower():
            raise ComponentFailed(
                f"inputs.table: feature columns have missing values and {params.estimator} cannot handle "
                "them (hist_gradient_boosting_* and xgboost_* can; or filter / impute first)"
            ) from None
        raise ComponentFailed(f"parameters.hyperparameters: {params.estimator} refused to fit: {text[:400]}") from None
    fit_seconds = time.perf_counter() - fit_started

    predicted = model.predict(x_test)
    predicted_train = model.predict(x_train)
    if encoder is not None:
        predicted = encoder.inverse_transform(np.asarray(predicted).astype(int))
        predicted_train = encoder.inverse_transform(np.asarray(predicted_train).astype(int))
    scores: dict[str, Any]
    if entry.task == "classification":
        fitted_classes = encoder.classes_ if encoder is not None else _classes_of(model)
        classes = [str(c) for c in fitted_classes]
        scores = {
            "accuracy": float(skm.accuracy_score(y_test, predicted)),
            "f1_macro": float(skm.f1_score(y_test, predicted, average="macro", zero_division=0)),
            "train_accuracy": float(skm.accuracy_score(y_train, predicted_train)),
        }
        if len(classes) == 2 and hasattr(model, "predict_proba"):
            try:
                positive = model.predict_proba(x_test)[:, 1]
                truth = y_test.to_numpy() == fitted_classes[1]
                if 0 < truth.sum() < len(truth):
                    scores["roc_auc"] = float(skm.roc_auc_score(truth, positive))
            except (AttributeError, ValueError):  # e.g. SVC without probability=True
                pass
    else:
        scores = {
            "r2": float(skm.r2_score(y_test, predicted)),
            "mae": float(skm.mean_absolute_error(y_test, predicted)),
            "rmse": float(np.sqrt(skm.mean_squared_error(y_test, predicted))),
            "train_r2": float(skm.r2_score(y_train, predicted_train)),
        }
    scores = {k: round(v, 6) for k, v in scores.items()}
    print(json.dumps({"estimator": params.estimator, **scores}))

    step = ctx.step
    canonical = params.canonical_name or step.canonical_name or f"/sequence/{step.pipeline_name}/{step.step_name}"
    tags = {
        "estimator": params.estimator,
        "hyperparameters": json.dumps(params.hyperparameters, sort_keys=True)[:5000],
        "target": params.target,
        "lineage.inputs": json.dumps({"table": table.uri}),
        "lineage.step": step.step_name,
        "lineage.run": step.run_id,
        **{f"score.{k}": str(v) for k, v in scores.items()},
    }
    framework = "xgboost" if params.estimator.startswith("xgboost") and model is estimator else "sklearn"
    stored = GenomeEstimator(model, modality="tabular", feature_names=features, target_classes=classes)
    record = ctx.model_store().save_model(
        stored,
        {
            "canonicalName": canonical,
            "application": step.application,
            "pipelineName": step.pipeline_name,
            "pipelineRunId": step.run_id,
            "pipelineStage": step.step_name,
            "versionName": params.version_name or params.estimator,
            "framework": framework,
            "inputModality": "tabular",
            "predictionType": entry.task,
            "datasets": [{"ref": table.uri, "kind": "table"}],
            "tags": tags,
        },
    )
    version = str(record["id"])
    print(f"saved model version {version}")
    metrics: dict[str, Any] = {
        **scores,
        "train_rows": int(len(x_train)),
        "test_rows": int(len(x_test)),
        "features": len(features),
        "fit_seconds": round(fit_seconds, 3),
        "total_seconds": round(time.perf_counter() - started, 3),
    }
    if classes is not None:
        metrics["classes"] = classes
    result = Result(metrics=metrics, model_version=version)
    result.add_output(
        "model", f"models:/{version}", "model", version=version, canonicalName=canonical,
        framework=framework, predictionType=entry.task, target=params.target,
    )
    return result


def _classes_of(model: Any) -> Any:
    found = getattr(model, "classes_", None)
    if found is None and hasattr(model, "steps"):
        found = getattr(model.steps[-1][1], "classes_", None)
    return list(found) if found is not None else []
