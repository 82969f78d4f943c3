"""Benchmarks: one module each, registered by name."""

from thinksafe.benchmarks.base import Benchmark, benchmark_names, get_benchmark, register_benchmark

__all__ = ["Benchmark", "benchmark_names", "get_benchmark", "register_benchmark"]
