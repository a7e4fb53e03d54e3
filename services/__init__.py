"""The Connective services; each package is independent of the others (import-linter checks)."""
