"""CLAIMED's CT-scan demo: synthetic CT slices with a metadata table shaped like covid-chestxray."""
