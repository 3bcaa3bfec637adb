from django.apps import AppConfig


class LeaderboardConfig(AppConfig):
    name = "backend.leaderboard"
    label = "leaderboard"
    verbose_name = "Leaderboard"
