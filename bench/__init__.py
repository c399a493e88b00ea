"""Benchmarks and development sets for matchgraph search quality."""
