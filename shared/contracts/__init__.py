"""Cross-service contracts: every message between services is declared once, here."""
