"""Experiments: each is a frozen config dataclass and a pure ``run(config) -> rows`` function."""
