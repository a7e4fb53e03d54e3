"""Contracts and plumbing shared by the Connective services; no domain rules live here."""
