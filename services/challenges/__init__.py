"""Challenges service: teachers' challenges, learners' submissions and shared resources."""
