"""Trainyard's service: the Django project (``backend.project``) and its apps (accounts, experiments,
leaderboard)."""
