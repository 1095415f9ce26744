"""Sequence JSON -> Airflow DAG: airgenome's sequencer vs dag-factory on equivalent YAML.

Writes N sequences (5 component steps with parameters and wired inputs: a, [b, c] in
parallel, d, e) as Genome JSON and the same DAG as
dag-factory YAML (BashOperator tasks, a task group, retries, timeouts), then builds every DAG
from its file in this one process, side by side, and prints time per DAG and per step and
the ratio. Prints only; never asserts.

    .venv/bin/python bench/bench_sequencer.py [--sequences 1000] [--repeat 3]

Goal (issue 3): >= 5x faster than dag-factory per DAG.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

STEPS_PER_SEQUENCE = 5
FOLDER_REPEATS = 3
COLLECT_EVERY = 50


def genome_sequence(index: int) -> dict[str, Any]:
    """Five component steps with typed parameters and one wired input per consumer, so the
    per-component parameter and wiring validation is part of what is measured."""

    def step(name: str, component: str, parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "stepName": name,
            "stepType": "model",
            "component": component,
            "parameters": parameters,
            "datasets": [],
            "timeout": "360s",
            "retry": "3",
            **extra,
        }

    forest = {"n_estimators": 10 + index % 50, "max_depth": 3, "save": False}
    return {
        "pipelineName": f"bench-{index:05d}",
        "canonicalName": f"/bench/{index}",
        "application": "bench",
        "deployment": "bench",
        "createdAt": "2026-01-01T00:00:00Z",
        "steps": [
            step("a", "input.sklearn-dataset", {"dataset": "iris", "limit": 1 + index % 100}),
            [
                step("b", "train.sklearn-forest", forest, inputs={"table": "a.table"}),
                step("c", "train.sklearn-forest", {**forest, "task": "classification"}, inputs={"table": "a.table"}),
            ],
            step("d", "genome.noop", {}),
            step("e", "genome.echo", {"index": index, "name": "e"}),
        ],
    }


def dagfactory_yaml(index: int) -> str:
    def task(name: str, deps: list[str], group: str | None = None) -> str:
        lines = [
            f"    {name}:",
            "      operator: airflow.providers.standard.operators.bash.BashOperator",
            f"      bash_command: echo {name}",
            "      execution_timeout:",
            "        __type__: datetime.timedelta",
            "        seconds: 360",
            "      retries: 3",
        ]
        if deps:
            lines.append(f"      dependencies: [{', '.join(deps)}]")
        if group:
            lines.append(f"      task_group_name: {group}")
        return "\n".join(lines)

    return "\n".join(
        [
            f"bench_{index:05d}:",
            "  default_args:",
            "    start_date: 2026-01-01",
            "    retry_delay:",
            "      __type__: datetime.timedelta",
            "      seconds: 30",
            "  schedule: null",
            "  catchup: false",
            "  tags: [bench, 'application:bench']",
            "  task_groups:",
            "    parallel_1:",
            "      tooltip: parallel group",
            "  tasks:",
            task("a", []),
            task("b", ["a"], "parallel_1"),
            task("c", ["a"], "parallel_1"),
            task("d", ["b", "c"]),
            task("e", ["d"]),
            "",
        ]
    )


def _timed_pairs(
    ours: Callable[[Path], Any], theirs: Callable[[Path], Any], pairs: list[tuple[Path, Path]], repeat: int
) -> tuple[list[float], list[float]]:
    """Seconds per DAG for each file, best of `repeat`, the two builders interleaved file by file.

    The garbage collector is paused throughout and run (untimed) every COLLECT_EVERY files, for
    both alike: DAGs are reference cycles, and the DAG processor parses each file in a fresh
    process, so collections triggered by thousands of dead DAGs are not a parse cost. Not before
    every file: a full collection walks the whole heap and flushes the CPU caches, so the next
    build would be timed cold (measured: a 0.07 ms parse takes 0.43 ms right after one).
    """
    ours_times: list[float] = []
    theirs_times: list[float] = []
    gc.collect()
    gc.disable()
    try:
        for index, (mine, yours) in enumerate(pairs):
            if index % COLLECT_EVERY == 0:
                gc.collect()
            for build, path, sink in ((ours, mine, ours_times), (theirs, yours, theirs_times)):
                best = float("inf")
                for _ in range(repeat):
                    started = time.perf_counter()
                    build(path)
                    best = min(best, time.perf_counter() - started)
                sink.append(best)
    finally:
        gc.enable()
    return ours_times, theirs_times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1, help="builds per file (best of)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")

    from dagfactory.dagfactory import _DagFactory

    from airgenome.build.render import build_dag
    from airgenome.sequence.plan import plan_sequence
    from airgenome.sequence.validate import parse_sequence

    with tempfile.TemporaryDirectory(prefix="bench-sequencer-") as scratch:
        root = Path(scratch)
        (root / "json").mkdir()
        (root / "yaml").mkdir()
        json_files, yaml_files = [], []
        for index in range(args.sequences):
            path = root / "json" / f"bench-{index:05d}.json"
            path.write_text(json.dumps(genome_sequence(index)))
            json_files.append(path)
            ypath = root / "yaml" / f"bench_{index:05d}.yaml"
            ypath.write_text(dagfactory_yaml(index))
            yaml_files.append(ypath)

        def ours(path: Path) -> Any:
            return build_dag(plan_sequence(parse_sequence(path.read_bytes(), mode="local")), fileloc=__file__)

        def theirs(path: Path) -> Any:
            dags = _DagFactory(config_filepath=str(path), defaults_config_path=str(root)).build_dags()
            assert len(dags) == 1
            return dags

        # Sanity: both describe the same graph.
        ours_dag = ours(json_files[0])
        (their_dag,) = theirs(yaml_files[0]).values()
        def edges(dag: Any) -> list[tuple[str, str]]:
            short = lambda task_id: task_id.split(".")[-1]  # noqa: E731 - dag-factory prefixes group ids
            return sorted((short(u), short(t)) for t, task in dag.task_dict.items() for u in task.upstream_task_ids)

        assert edges(ours_dag) == edges(their_dag), (edges(ours_dag), edges(their_dag))

        # Interleaved per file so both see the same machine state (the machine is shared).
        ours_times, theirs_times = _timed_pairs(ours, theirs, list(zip(json_files, yaml_files, strict=True)), args.repeat)

        # Stage breakdown for ours (validate / plan / render), on the same files.
        stage: dict[str, list[float]] = {"parse+validate": [], "plan": [], "render": []}
        gc.disable()  # as above: collected every COLLECT_EVERY files, untimed
        for index, path in enumerate(json_files):
            if index % COLLECT_EVERY == 0:
                gc.collect()
            t0 = time.perf_counter()
            seq = parse_sequence(path.read_bytes(), mode="local")
            t1 = time.perf_counter()
            plan = plan_sequence(seq)
            t2 = time.perf_counter()
            build_dag(plan, fileloc=__file__)
            t3 = time.perf_counter()
            stage["parse+validate"].append(t1 - t0)
            stage["plan"].append(t2 - t1)
            stage["render"].append(t3 - t2)
        gc.enable()

        # As the DAG processor parses a DAG file: one process builds every DAG of a folder and
        # keeps them (garbage collector on). airgenome: the loader; dag-factory: load_yaml_dags.
        from dagfactory.dagfactory import load_yaml_dags

        from airgenome.build.loader import build_dags
        from airgenome.sequence import loader

        ours_runs: list[float] = []
        theirs_runs: list[float] = []
        for _ in range(FOLDER_REPEATS):  # alternated, best of each: one run is at the mercy of the machine
            loader._CACHE.clear()  # a fresh DAG-processor process has no cache
            gc.collect()
            started = time.perf_counter()
            ours_folder = build_dags(__file__, folders=[root / "json"])
            ours_runs.append(time.perf_counter() - started)
            assert len(ours_folder) == args.sequences
            del ours_folder
            gc.collect()
            namespace: dict[str, Any] = {}
            started = time.perf_counter()
            load_yaml_dags(globals_dict=namespace, dags_folder=str(root / "yaml"), defaults_config_path=str(root))
            theirs_runs.append(time.perf_counter() - started)
            built = sum(1 for value in namespace.values() if type(value).__name__ == "DAG")
            assert built == args.sequences, built
            del namespace
        ours_folder_s, theirs_folder_s = min(ours_runs), min(theirs_runs)

    def line(name: str, times: list[float]) -> str:
        med = statistics.median(times)
        return (
            f"{name:28s} per DAG median {med * 1e3:7.3f} ms  p95 {sorted(times)[int(len(times) * 0.95)] * 1e3:7.3f} ms"
            f"  per step {med / STEPS_PER_SEQUENCE * 1e3:6.3f} ms  total {sum(times):6.2f} s"
        )

    n = args.sequences
    print(f"{n} sequences x {STEPS_PER_SEQUENCE} steps (one parallel group)")
    print("whole folder -> DAGs in one process (as a DAG file is parsed; GC on):")
    print(f"  airgenome loader           {ours_folder_s:6.2f} s  = {ours_folder_s / n * 1e3:6.3f} ms per DAG"
          f"  {ours_folder_s / n / STEPS_PER_SEQUENCE * 1e3:6.3f} ms per step")
    print(f"  dag-factory load_yaml_dags {theirs_folder_s:6.2f} s  = {theirs_folder_s / n * 1e3:6.3f} ms per DAG"
          f"  {theirs_folder_s / n / STEPS_PER_SEQUENCE * 1e3:6.3f} ms per step")
    print(f"  ratio dag-factory / airgenome: {theirs_folder_s / ours_folder_s:.1f}x  (goal >= 5x; best of"
          f" {FOLDER_REPEATS} alternated runs; all runs, ms per DAG: airgenome"
          f" {', '.join(f'{t / n * 1e3:.2f}' for t in ours_runs)}; dag-factory"
          f" {', '.join(f'{t / n * 1e3:.2f}' for t in theirs_runs)})")
    print(f"one file -> one DAG, interleaved, GC paused (collected every {COLLECT_EVERY} files, untimed):")
    print(line("airgenome sequencer", ours_times))
    print(line("dag-factory 1.1 (YAML)", theirs_times))
    for name, times in stage.items():
        print(f"  airgenome {name:16s} median {statistics.median(times) * 1e3:7.3f} ms")
    ratio = statistics.median(theirs_times) / statistics.median(ours_times)
    print(f"ratio dag-factory / airgenome (median per DAG): {ratio:.1f}x")
    print(f"ratio dag-factory / airgenome (total time):     {sum(theirs_times) / sum(ours_times):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
