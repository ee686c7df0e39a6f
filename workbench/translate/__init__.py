"""Argos translation packages built for tests and benchmarks (no Indonesian-English package is reachable offline).

- `build_package`: synthetic packages (seeded random weights) for tests and the benchmark
- `dictionary_model`: a hand-built transformer translating word by word, for faithfulness tests
"""
