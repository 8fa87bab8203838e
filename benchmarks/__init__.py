"""Speed and memory benchmarks (scripts; not part of the installed package)."""
