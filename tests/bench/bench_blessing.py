"""Benchmark: the blessing policy's decision over 50 evaluations (goal: <= 1 s).

    .venv/bin/python tests/bench/bench_blessing.py [evaluations] [repeats]

Prints, for N crafted evaluation records (each with a few tasks and metrics) and a policy of
~60 rules of every kind (required, metric bounds, change vs a baseline of N records, fairness,
robustness, data validation):

- the pure decision (`decide`), median and worst of the repeats, against the goal;
- the decision plus turning the verdict into its evaluation run (`verdict_run`);
- reading the same N runs back from a SQLite evaluation store (what the component does before
  deciding), so the decision's share of the step is visible;
- an anchor measured in the same run: a bare Python loop that looks every rule's metric up in
  the records without any policy machinery. The ratio decide/anchor is the policy's overhead.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from airgenome.components.bless.policy import decide, verdict_run  # noqa: E402
from airgenome.components.bless.specs import BlessPolicyParameters  # noqa: E402
from airgenome.evaluations.records import TargetModel  # noqa: E402
from tests.components.bless_publish.records import run, task  # noqa: E402


def records(count: int, model: str, shift: float = 0.0) -> list:
    made = []
    for i in range(count):
        kind = ("confusion", "fairness", "robustness", "data-validation", "explanations")[i % 5]
        made.append(run(f"{kind}/e{i}", [
            task("accuracy", {"accuracy": 0.8 + shift + i / 1000, "f1": 0.75, "loss": 0.3}, "pass"),
            task("sex", {"disparate_impact": 0.9, "statistical_parity_difference": 0.04}, "pass", segment="sex"),
            task("attacks", {"accuracy": {"eps=0.03": 0.6, "eps=0.1": 0.4}}),
        ], model=model, age_s=i))
    return made


def policy(count: int) -> BlessPolicyParameters:
    names = [f"{('confusion', 'fairness', 'robustness', 'data-validation', 'explanations')[i % 5]}/e{i}"
             for i in range(count)]
    return BlessPolicyParameters.model_validate({
        "required": [{"evaluation": name} for name in names[:20]],
        "metrics": [{"evaluation": name, "task": "accuracy", "metric": "accuracy", ">=": 0.7, "<=": 1.0}
                    for name in names[:20]],
        "changes": [{"evaluation": name, "metric": "accuracy", "min_absolute_change": -0.01}
                    for name in names[:10]],
        "fairness": [{"evaluation": "fairness/*", "attribute": "sex", "metric": "disparate_impact", ">=": 0.8},
                     {"evaluation": "fairness/*", "attribute": "sex", "metric": "statistical_parity_difference",
                      "abs": True, "<=": 0.1}],
        "robustness": [{"evaluation": "robustness/*", "attribute": "eps=0.03", "metric": "accuracy", ">=": 0.5}],
        "data_validation": {"evaluation": "data-validation/*"},
    })


def anchor(rules: BlessPolicyParameters, candidates: list) -> int:
    by_name = {r.name: r for r in candidates}
    hits = 0
    for rule in rules.metrics:
        run_ = by_name.get(rule.evaluation)
        for t in run_.tasks if run_ else ():
            if rule.metric in t.metrics and t.metrics[rule.metric] >= (rule.ge or 0):
                hits += 1
                break
    return hits


def timed(function, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    candidates = records(count, "m/2")
    baseline = records(count, "m/1", shift=-0.005)
    rules = policy(count)
    n_rules = len(decide(rules, candidates, baseline, "m/1").reasons)
    decisions = timed(lambda: decide(rules, candidates, baseline, "m/1"), repeats)
    recorded = timed(lambda: verdict_run(decide(rules, candidates, baseline, "m/1"), rules, TargetModel(id="m/2")),
                     repeats)
    anchors = timed(lambda: anchor(rules, candidates), repeats)
    from airgenome.evaluations.store import get_evaluation_store

    with tempfile.TemporaryDirectory() as scratch:
        store = get_evaluation_store(f"sqlite:///{scratch}/evaluations.db")
        for record in candidates:
            store.save(record)
        reads = timed(lambda: [store.get(s.id) for s in store.search(model_id="m/2", limit=500).items], 5)
        store.close()
    median, worst = statistics.median(decisions), max(decisions)
    print(f"policy decision over {count} evaluations (+{count} baseline), {n_rules} rules: "
          f"median {median * 1000:.2f} ms, worst {worst * 1000:.2f} ms over {repeats} runs "
          f"(goal <= 1000 ms: {'met' if worst <= 1.0 else 'MISSED'}, {1.0 / worst:.0f}x under)")
    print(f"decision + verdict as an evaluation run: median {statistics.median(recorded) * 1000:.2f} ms")
    print(f"anchor (bare metric lookups for the {len(rules.metrics)} metric rules): "
          f"median {statistics.median(anchors) * 1000:.3f} ms; ratio decide/anchor "
          f"{median / max(statistics.median(anchors), 1e-9):.0f}x")
    print(f"reading the {count} runs back from a SQLite evaluation store: median "
          f"{statistics.median(reads) * 1000:.1f} ms (decision = {median / statistics.median(reads):.1%} of it)")


if __name__ == "__main__":
    main()
