"""Use cases of the challenges service: one function each, dependencies keyword-only."""
