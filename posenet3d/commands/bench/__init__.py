"""Benchmarks behind ``posenet3d bench <name>``: each prints measured figures (never asserted in tests)."""
