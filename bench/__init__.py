"""Benchmarks (`make bench`): each prints its figures and their ratio to a bare baseline run beside it."""
