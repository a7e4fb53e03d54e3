"""Use cases of the leaderboards service: awarding (events, manual awards, reversals) and reading."""
