"""Leaderboards service: the points ledger, rules, and leaderboards derived from it."""
