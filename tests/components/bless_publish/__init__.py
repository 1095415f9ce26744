"""Blessing and publishing components: policy verdicts, refusals, KServe manifests, reports."""
