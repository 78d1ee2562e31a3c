"""Evaluation: metrics on held-out data next to simple baselines, reports and figures."""
