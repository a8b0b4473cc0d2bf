"""The `learnstream` command: the one place that wires components together."""
