"""The spark-operator, stood in: a SparkApplication (``sparkoperator.k8s.io/v1beta2``) runs its driver.

`StandInKubernetes` calls `submit_application` once a SparkApplication has been created (its
object hook for ``sparkapplications``). It calls `observe_application` whenever one is read,
the way the spark-operator's controller acts on what it watches. The application then moves
``SUBMITTED → RUNNING → COMPLETED``, or to ``FAILED`` with the spark-operator's error message:

- **create**: the state is SUBMITTED (``submissionID``, ``lastSubmissionAttemptTime``, one
  submission attempt). spark-submit creates the driver pod ``<name>-driver``:
  - its container is ``spark-kubernetes-driver``, with the application's image, the image
    entrypoint's ``driver`` arguments, and the driver's ``env`` / ``envFrom``;
  - its labels are the driver's labels plus those spark-submit and the spark-operator set:
    ``spark-role: driver``, ``spark-app-name``, ``spark-app-selector``, ``spark-version``,
    ``sparkoperator.k8s.io/app-name``, ``…/launched-by-spark-operator``, ``…/submission-id``;
  - its annotations are the driver's, so a driver plays a stand-in fault on request
    (``standin.airgenome.io/fault`` in ``spec.driver.annotations``; see `tests.standin.k8s_api`);
  - an ownerReference makes it the application's, so deleting the application deletes it.
- **read**: the state is RUNNING once the driver has started, COMPLETED when it exited 0, and
  otherwise FAILED with ``errorMessage: "driver container failed with ExitCode: N, Reason: R"``
  (the spark-operator's wording), plus ``driverInfo.podName``, ``sparkApplicationId`` and
  ``terminationTime``. A driver that cannot start (a missing Secret) stays Pending with
  ``CreateContainerConfigError``, and the application stays SUBMITTED, as on a cluster.
  `application_history` lists the states an application went through.

In execute mode the driver runs as a local process, which is what spark-submit's PythonRunner
does in the image. This interpreter runs the application's ``mainApplicationFile`` (its path
below ``site-packages/`` resolved to the same module installed here) with its ``arguments`` and
the pod's environment (secret references resolved as for any pod). ``PYSPARK_SUBMIT_ARGS``
stands for spark-submit's configuration: ``--master local[<executor instances × cores>]``, the
driver on loopback, and the application's ``sparkConf``. Without execute mode the driver pod
lives like any simulated pod, and the application follows it.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import threading
import uuid
from typing import TYPE_CHECKING, Any

from tests.standin.k8s_api import PENDING_FAULTS, _now, _Pod, pod_fault

if TYPE_CHECKING:
    from tests.standin.k8s_api import StandInKubernetes

DRIVER_CONTAINER = "spark-kubernetes-driver"  # spark-submit's name for the driver's container
TERMINAL = ("COMPLETED", "FAILED", "SUBMISSION_FAILED")


def application_history(cluster: StandInKubernetes, namespace: str, name: str) -> list[str]:
    """The states a SparkApplication went through, oldest first."""
    with cluster._lock:
        return list(cluster.application_states[(namespace, name)])


def submit_application(cluster: StandInKubernetes, app: dict[str, Any]) -> None:
    """spark-submit, stood in: SUBMITTED and the driver pod (called under the lock)."""
    if "status" in app:  # a patch of a submitted application: nothing to submit again
        return
    name, namespace = app["metadata"]["name"], app["metadata"]["namespace"]
    submission = str(uuid.uuid4())
    app["status"] = {
        "applicationState": {"state": "SUBMITTED"},
        "submissionID": submission,
        "sparkApplicationId": f"spark-{uuid.uuid4().hex}",
        "lastSubmissionAttemptTime": _now(),
        "submissionAttempts": 1,
        "driverInfo": {"podName": f"{name}-driver"},
    }
    cluster.application_states[(namespace, name)] = ["SUBMITTED"]
    manifest = driver_pod(app)
    manifest["metadata"].update(uid=str(uuid.uuid4()), resourceVersion=str(len(cluster.requests)),
                                creationTimestamp=_now())
    pod = cluster.pods[(namespace, manifest["metadata"]["name"])] = _Pod(manifest=manifest)
    cluster.created.append(manifest)
    if cluster.execute and pod_fault(manifest) not in PENDING_FAULTS:
        _start_driver(cluster, pod, app)


def driver_pod(app: dict[str, Any]) -> dict[str, Any]:
    """The driver pod spark-submit creates for an application (cluster mode)."""
    meta, spec = app["metadata"], app["spec"]
    driver = spec.get("driver") or {}
    name = meta["name"]
    labels = {
        **(driver.get("labels") or {}),
        "spark-role": "driver",
        "spark-app-name": name,
        "spark-app-selector": app["status"]["sparkApplicationId"],
        "spark-version": spec.get("sparkVersion", ""),
        "sparkoperator.k8s.io/app-name": name,
        "sparkoperator.k8s.io/launched-by-spark-operator": "true",
        "sparkoperator.k8s.io/submission-id": app["status"]["submissionID"],
    }
    env = [
        *(driver.get("env") or []),
        {"name": "SPARK_USER", "value": "spark"},
        {"name": "SPARK_APPLICATION_ID", "value": app["status"]["sparkApplicationId"]},
        {"name": "SPARK_DRIVER_BIND_ADDRESS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "SPARK_CONF_DIR", "value": "/opt/spark/conf"},
    ]
    container: dict[str, Any] = {
        "name": DRIVER_CONTAINER,
        "image": driver.get("image") or spec.get("image"),
        "imagePullPolicy": spec.get("imagePullPolicy", "IfNotPresent"),
        "args": ["driver", "--properties-file", "/opt/spark/conf/spark.properties",
                 "--class", "org.apache.spark.deploy.PythonRunner",
                 spec["mainApplicationFile"], *(spec.get("arguments") or [])],
        "env": env,
        "resources": {"requests": {"cpu": str(driver.get("cores", 1)), "memory": str(driver.get("memory", "1g"))},
                      "limits": {"memory": str(driver.get("memory", "1g"))}},
    }
    if driver.get("envFrom"):
        container["envFrom"] = list(driver["envFrom"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{name}-driver",
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": dict(driver.get("annotations") or {}),
            "ownerReferences": [{"apiVersion": app["apiVersion"], "kind": app["kind"], "name": name,
                                 "uid": meta["uid"], "controller": True}],
        },
        "spec": {"containers": [container], "restartPolicy": "Never",
                 "serviceAccountName": driver.get("serviceAccount", "default")},
    }


def observe_application(cluster: StandInKubernetes, app: dict[str, Any]) -> None:
    """The controller's reconcile on a read: the application follows its driver pod."""
    status = app.get("status")
    if not status or status["applicationState"]["state"] in TERMINAL:
        return
    name, namespace = app["metadata"]["name"], app["metadata"]["namespace"]
    pod = cluster.pods.get((namespace, f"{name}-driver"))
    if pod is None or pod.started_at is None:
        return
    history = cluster.application_states.setdefault((namespace, name), ["SUBMITTED"])

    def move(state: str, **extra: Any) -> None:
        status["applicationState"] = {"state": state, **extra}
        if history[-1] != state:
            history.append(state)

    if status["applicationState"]["state"] == "SUBMITTED":
        status["executionAttempts"] = 1
        move("RUNNING")
    if pod.exit_code is not None:
        status["terminationTime"] = pod.finished_at
        if pod.exit_code == 0:
            move("COMPLETED")
        else:
            move("FAILED", errorMessage=f"driver container failed with ExitCode: {pod.exit_code}, Reason: {pod.reason}")


def local_main_file(uri: str) -> str | None:
    """The file here that stands for the image's ``local://…/site-packages/<module path>.py``."""
    _, marker, relative = uri.partition("/site-packages/")
    if not marker or not relative.endswith(".py"):
        return None
    module = relative.removesuffix(".py").replace("/", ".")
    found = importlib.util.find_spec(module)
    return found.origin if found is not None and found.origin else None


def _start_driver(cluster: StandInKubernetes, pod: _Pod, app: dict[str, Any]) -> None:
    """The driver as a local process (under the lock, when the application is submitted)."""
    assert cluster._root is not None, "server not started"
    env, error = cluster._environment(pod)
    if error is not None:
        pod.config_error = error  # Pending, waiting in CreateContainerConfigError
        return
    spec = app["spec"]
    meta = pod.manifest["metadata"]
    pod.workdir = cluster._root / f"{meta['namespace']}.{pod.name}.{meta['uid'][:8]}"
    (pod.workdir / "home").mkdir(parents=True)
    executor = spec.get("executor") or {}
    slots = max(1, int(executor.get("instances", 1)) * int(executor.get("cores", 1)))
    conf = {**(spec.get("sparkConf") or {}), "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}
    submit = ["--master", f"local[{slots}]", "--name", app["metadata"]["name"]]
    for key, value in sorted(conf.items()):
        submit += ["--conf", f"{key}={value}"]
    base = cluster.base_env if cluster.base_env is not None else {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
    }
    pod.env = {"HOME": str(pod.workdir / "home"), "HOSTNAME": pod.name, **base, **env,
               "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_SUBMIT_ARGS": shlex.join([*submit, "pyspark-shell"])}
    main = local_main_file(spec["mainApplicationFile"])
    cluster._set_phase(pod, "Running")
    if main is None:
        cluster._terminate(pod, 101, "Error", f"stand-in: no local file for {spec['mainApplicationFile']}")
        return
    pod.argv = [cluster.python, main, *(spec.get("arguments") or [])]
    pod.process = subprocess.Popen(
        pod.argv, env=pod.env, cwd=pod.workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True,
    )
    if pod_fault(pod.manifest) == "OOMKilled":
        cluster._kill(pod, "the OOM killer (fault OOMKilled)")
    pump = threading.Thread(target=cluster._pump, args=(pod, pod.process), name=f"standin-driver-{pod.name}", daemon=True)
    watchdog = threading.Timer(cluster.execute_timeout_s, cluster._timeout, args=(pod,))
    watchdog.daemon = True
    pod.threads = [pump, watchdog]
    pump.start()
    watchdog.start()
