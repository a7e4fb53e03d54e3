"""Peer-review service: review assignments, reviews, consensus grades and revision verification."""
