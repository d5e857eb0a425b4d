"""Evaluation tasks, scoring and runners (the paper's benchmarks and baselines)."""
