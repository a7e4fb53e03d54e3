"""Development stack: run Connective locally without Docker, and start real servers for tests."""
