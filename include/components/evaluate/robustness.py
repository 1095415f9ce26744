"""``evaluate.robustness``: adversarial accuracy with ART 1.20.

- Keras image models: `TensorFlowV2Classifier` over one `tf.function` from 0..255 pixels to
  log-probabilities (ART's `KerasClassifier` failed here for a model loaded with
  ``compile=False``); ``clip_values`` are (0, 255), so eps = fraction x 255.
- scikit-learn models on a table: `SklearnClassifier` with per-feature ``clip_values`` from
  the data; eps = fraction x each feature's range.
- FGSM and PGD need the model's loss gradients (Keras, linear scikit-learn models); a model
  without them is refused naming ``parameters.attacks``. HopSkipJump is black-box: it runs
  once (L-inf, bounded by ``hsj_max_iter`` / ``hsj_max_eval``) and its adversarial examples
  are projected onto each eps ball before they are judged.

Attacks use the true labels. Per (attack, eps): accuracy, accuracy_drop (clean - adversarial)
and flip_rate (share of correctly classified examples that the attack flips). Expectations come
from ``{"<eps>": {"accuracy": {">=": 0.5}}}``; the flipped examples become prototypes, with
before/after pictures for image models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from airgenome.components.context import ComponentContext, ComponentFailed, Result
from airgenome.components.evaluate import imaging
from airgenome.components.evaluate.trust_specs import RobustnessParameters

GRADIENT_ATTACKS = ("fgsm", "pgd")


@dataclass
class Target:
    """What the attacks run on: ART classifier, inputs, labels, the size of the input range."""

    classifier: Any
    x: np.ndarray
    y: np.ndarray  # class indices
    scale: Any  # float (images) or per-feature array (tables): eps fraction x scale
    low: Any
    high: Any
    classes: list[str]
    refs: list[str]
    is_image: bool
    modality: str
    framework: str | None


def image_target(ctx: ComponentContext, params: RobustnessParameters, estimator: Any) -> Target:
    import tensorflow as tf
    from art.estimators.classification import TensorFlowV2Classifier

    if "images" not in ctx.inputs:
        raise ComponentFailed("inputs.images: an image model is attacked on pictures; wire the images input")
    model = imaging.image_model(estimator, params.pixel_range)
    data = imaging.load_image_set(ctx, model, params, sample_size=params.sample_size, seed=params.seed)
    signature = tf.TensorSpec((None, model.height, model.width, model.channels), tf.float32)
    compiled = tf.function(model.log_probabilities, input_signature=[signature])

    def forward(x: Any, training: bool = False) -> Any:  # ART passes training=...
        return compiled(tf.cast(x, tf.float32))

    classifier = TensorFlowV2Classifier(
        model=forward,
        nb_classes=model.n_classes,
        input_shape=(model.height, model.width, model.channels),
        loss_object=tf.keras.losses.CategoricalCrossentropy(from_logits=True),
        clip_values=(0.0, 255.0),
    )
    return Target(classifier, data.pixels, data.labels, 255.0, 0.0, 255.0, data.classes, data.paths, True, "image", "keras")


def table_target(ctx: ComponentContext, params: RobustnessParameters, estimator: Any) -> Target:
    from art.estimators.classification.scikitlearn import SklearnClassifier

    from airgenome.components.files import read_table

    if imaging.framework_of(estimator) not in ("sklearn", "xgboost"):
        raise ComponentFailed(
            f"inputs.model: a {estimator.modality} {imaging.framework_of(estimator) or 'unknown'} model cannot be "
            "attacked here (Keras image models and scikit-learn classifiers on tables can)"
        )
    network = estimator.estimator
    if not callable(getattr(network, "predict_proba", None)) or getattr(network, "classes_", None) is None:
        raise ComponentFailed(
            f"inputs.model: {type(network).__name__} cannot be attacked: evasion attacks need a classifier "
            "with predict_proba and classes_ (a regressor has no decision to flip)"
        )
    if "table" not in ctx.inputs:
        raise ComponentFailed("inputs.table: a tabular model is attacked on a table; wire the table input")
    frame = read_table(ctx.input("table").uri)
    names = estimator.feature_names or [str(c) for c in getattr(network, "feature_names_in_", [])]
    if not names:
        raise ComponentFailed("inputs.model: the model carries no feature_names to pick its columns from the table")
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ComponentFailed(f"inputs.table: the model's feature column(s) {', '.join(missing)} are missing")
    if params.label not in frame.columns:
        raise ComponentFailed(f"parameters.label: column {params.label!r} is not in the table")
    rows = imaging.sample_indices(len(frame), params.sample_size, params.seed)
    frame = frame.iloc[rows]
    try:
        x = frame[names].to_numpy(dtype=np.float32)
    except (TypeError, ValueError):
        raise ComponentFailed("inputs.table: the model's feature columns must be numeric to be perturbed") from None
    classes = [str(c) for c in network.classes_]
    y = imaging.label_indices(frame[params.label].astype(str).tolist(), classes, "parameters.label")
    low, high = x.min(axis=0), x.max(axis=0)
    span = np.where(high > low, high - low, 1.0).astype(np.float32)
    classifier = SklearnClassifier(model=network, clip_values=(low, np.maximum(high, low + 1e-6)))
    return Target(
        classifier, x, y, span, low, high, classes, [f"row-{int(i)}" for i in rows], False, "tabular", imaging.framework_of(estimator)
    )


def check_gradients(target: Target, attacks: list[str]) -> None:
    wanted = [a for a in attacks if a in GRADIENT_ATTACKS]
    if not wanted:
        return
    model = getattr(target.classifier, "model", None)
    name = type(model).__name__ if model is not None else type(target.classifier).__name__
    hint = f"{', '.join(wanted)} need(s) the model's loss gradients; {name} has none (use hopskipjump, a black-box attack)"
    if not callable(getattr(target.classifier, "loss_gradient", None)):
        raise ComponentFailed(f"parameters.attacks: {hint}")
    try:
        onehot = np.eye(len(target.classes), dtype=np.float32)[target.y[:1]]
        gradient = np.asarray(target.classifier.loss_gradient(target.x[:1], onehot))
    except (NotImplementedError, AttributeError, TypeError) as error:
        raise ComponentFailed(f"parameters.attacks: {hint} ({type(error).__name__})") from None
    if gradient.shape != target.x[:1].shape:
        raise ComponentFailed(f"parameters.attacks: {hint}")


def _predict(target: Target, x: np.ndarray, batch_size: int) -> np.ndarray:
    return np.asarray(target.classifier.predict(x, batch_size=batch_size))


def attack_all(target: Target, params: RobustnessParameters) -> dict[str, dict[float, np.ndarray]]:
    """{attack: {eps: adversarial inputs}} for every requested attack and eps."""
    from art.attacks.evasion import FastGradientMethod, HopSkipJump, ProjectedGradientDescent

    onehot = np.eye(len(target.classes), dtype=np.float32)[target.y]
    out: dict[str, dict[float, np.ndarray]] = {}
    for attack in params.attacks:
        out[attack] = {}
        if attack == "hopskipjump":
            hsj = HopSkipJump(
                target.classifier,
                batch_size=params.batch_size,
                targeted=False,
                norm=np.inf,
                max_iter=params.hsj_max_iter,
                max_eval=params.hsj_max_eval,
                init_eval=params.hsj_init_eval,
                init_size=min(100, params.hsj_max_eval),
                verbose=False,
            )
            found = hsj.generate(target.x, y=onehot).astype(np.float32)
            delta = found - target.x
            for eps in params.eps:
                limit = np.float32(eps) * target.scale
                out[attack][eps] = np.clip(target.x + np.clip(delta, -limit, limit), target.low, target.high).astype(np.float32)
            continue
        for eps in params.eps:
            # ART wants eps and eps_step of one type: floats (images) or arrays (per-feature ranges).
            bound: Any = np.asarray(eps * target.scale, dtype=np.float32)
            step: Any = bound * np.float32(params.pgd_step_ratio)
            if bound.ndim == 0:
                bound, step = float(bound), float(step)
            if eps == 0.0:
                # A zero budget: ART's FGSM moves by eps = 0 (its eps_step only matters with
                # minimal=True but must be positive); PGD refuses a zero step, FGSM stands in.
                method: Any = FastGradientMethod(target.classifier, eps=0.0, eps_step=1.0, batch_size=params.batch_size)
            elif attack == "fgsm":
                method = FastGradientMethod(target.classifier, eps=bound, eps_step=bound, batch_size=params.batch_size)
            else:
                method = ProjectedGradientDescent(
                    target.classifier,
                    eps=bound,
                    eps_step=step,
                    max_iter=params.pgd_max_iter,
                    num_random_init=0,
                    batch_size=params.batch_size,
                    verbose=False,
                )
            out[attack][eps] = np.asarray(method.generate(target.x, y=onehot), dtype=np.float32)
    return out


_COMPARE = {">=": "toBeGreaterOrEqual", ">": "toBeGreater", "<=": "toBeLessOrEqual", "<": "toBeLess"}


def _expectations_for(params: RobustnessParameters, eps: float) -> dict[str, dict[str, float]]:
    for key, bounds in params.expectations.items():
        if math.isclose(float(key), eps, abs_tol=1e-12):
            return {metric: dict(ops) for metric, ops in bounds.items()}
    return {}


def _pair_png(clean: np.ndarray, adversarial: np.ndarray, captions: tuple[str, str, str]) -> bytes:
    difference = adversarial - clean  # signed, on grey: darker = lowered, lighter = raised
    peak = float(np.abs(difference).max()) or 1.0
    return imaging.grid_png([clean, adversarial, 127.5 + difference * (127.5 / peak)], list(captions), columns=3)


def robustness(ctx: ComponentContext, params: RobustnessParameters) -> Result:
    record, estimator = imaging.load_model(ctx)
    if estimator.modality == "image":
        target = image_target(ctx, params, estimator)
    elif estimator.modality == "tabular":
        target = table_target(ctx, params, estimator)
    else:
        raise ComponentFailed(f"inputs.model: a {estimator.modality} model cannot be attacked here (image and tabular models can)")
    check_gradients(target, params.attacks)

    clean_prob = _predict(target, target.x, params.batch_size)
    clean_pred = clean_prob.argmax(axis=1)
    correct = clean_pred == target.y
    clean_accuracy = float(correct.mean())
    adversarial = attack_all(target, params)

    table: dict[str, dict[str, dict[str, float]]] = {}
    flips: dict[tuple[str, float], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for attack, by_eps in adversarial.items():
        table[attack] = {}
        for eps, x_adv in by_eps.items():
            prob = _predict(target, x_adv, params.batch_size)
            pred = prob.argmax(axis=1)
            accuracy = float((pred == target.y).mean())
            flipped = correct & (pred != target.y)
            table[attack][f"{eps:g}"] = {
                "accuracy": accuracy,
                "accuracy_drop": clean_accuracy - accuracy,
                "flip_rate": float(flipped.sum() / correct.sum()) if correct.any() else 0.0,
            }
            flips[(attack, eps)] = (flipped, pred, prob)

    # Prototypes: per attack, the examples flipped at the smallest eps that flips any.
    chosen: dict[str, tuple[float, list[int]]] = {}
    for attack in params.attacks:
        for eps in params.eps:
            indices = np.flatnonzero(flips[(attack, eps)][0])[: params.pairs]
            if len(indices):
                chosen[attack] = (eps, [int(i) for i in indices])
                break
    pictures: list[str] = []
    prototype_pictures: dict[tuple[str, int], str] = {}
    grids: dict[str, str] = {}
    if target.is_image:
        for attack, (eps, picked) in chosen.items():
            _, pred, prob = flips[(attack, eps)]
            tiles, captions = [], []
            for i in picked:
                x_adv = adversarial[attack][eps][i]
                before = f"{target.classes[clean_pred[i]]} {clean_prob[i, clean_pred[i]]:.2f}"
                after = f"{target.classes[pred[i]]} {prob[i, pred[i]]:.2f}"
                uri = imaging.save_picture(
                    ctx, f"robustness-{attack}-{i}.png", _pair_png(target.x[i], x_adv, (f"clean: {before}", f"eps {eps:g}: {after}", "perturbation"))
                )
                prototype_pictures[(attack, i)] = uri
                pictures.append(uri)
                tiles += [target.x[i], x_adv]
                captions += [f"clean: {before}", f"{attack} {eps:g}: {after}"]
            grids[attack] = imaging.save_picture(
                ctx, f"robustness-{attack}.png", imaging.grid_png(tiles, captions, columns=4, title=f"{attack}: flipped examples at eps {eps:g}")
            )
            pictures.append(grids[attack])

    tasks: list[tuple[str, Any, Any]] = [("robustness/clean", None, _clean_body(clean_accuracy, len(target.y)))]
    for attack in params.attacks:
        for eps in params.eps:
            facts = table[attack][f"{eps:g}"]
            proto: list[dict[str, Any]] = []
            if chosen.get(attack, (None,))[0] == eps:
                _, pred, prob = flips[(attack, eps)]
                for i in chosen[attack][1]:
                    delta = np.abs(adversarial[attack][eps][i] - target.x[i]) / target.scale
                    proto.append(
                        {
                            "ref": target.refs[i],
                            "metrics": {
                                "label": target.classes[target.y[i]],
                                "clean_prediction": target.classes[clean_pred[i]],
                                "clean_confidence": float(clean_prob[i, clean_pred[i]]),
                                "adversarial_prediction": target.classes[pred[i]],
                                "adversarial_confidence": float(prob[i, pred[i]]),
                                "linf_fraction": float(np.max(delta)),
                            },
                            "picture": prototype_pictures.get((attack, i)),
                        }
                    )
            tasks.append(
                (
                    f"robustness/{attack}/eps={eps:g}",
                    {"attack": attack, "eps": eps},
                    _attack_body(facts, _expectations_for(params, eps), proto, grids.get(attack) if proto else None),
                )
            )
    run = imaging.save_evaluation(
        ctx,
        name="trust/robustness",
        record=record,
        tasks=tasks,
        parameters=params.model_dump(mode="json"),
        dataset=ctx.inputs["images"].uri if target.is_image else ctx.inputs["table"].uri,
        modality=target.modality,
        framework=target.framework,
    )
    metrics = {"clean_accuracy": clean_accuracy, "examples": int(len(target.y)), "adversarial": table}
    return imaging.evaluation_result(ctx, run, record, metrics=metrics, pictures=pictures, gate=params.gate)


def _clean_body(accuracy: float, count: int) -> Any:
    def body(t: Any) -> None:
        t.add_metric("accuracy", accuracy)
        t.add_metric("examples", count)

    return body


def _attack_body(facts: dict[str, float], bounds: dict[str, dict[str, float]], prototypes: list[dict[str, Any]], grid: str | None) -> Any:
    def body(t: Any) -> None:
        for name, value in facts.items():
            t.add_metric(name, value)
        for metric, ops in bounds.items():
            for op, bound in ops.items():
                getattr(t.expect(facts[metric], var=metric), _COMPARE[op])(bound)
        if grid:
            t.add_picture("flipped examples", grid, caption="clean | adversarial pairs")
        for item in prototypes:
            p = t.prototype(ref=item["ref"])
            for name, value in item["metrics"].items():
                p.add_metric(name, value)
            if item["picture"]:
                p.add_picture("before / after", item["picture"], caption="clean | adversarial | perturbation (grey = 0, amplified)")

    return body
