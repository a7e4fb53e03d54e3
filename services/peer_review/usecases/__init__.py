"""Use cases of the peer-review service: one function each, dependencies keyword-only."""
