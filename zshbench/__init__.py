"""zshbench: a benchmark toolkit for zero-shot image hashing."""

__version__ = "0.1.0"
