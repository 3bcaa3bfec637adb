from django.contrib.auth import views as auth_views
from django.urls import path

from . import leaderboard, live, sweeps, teams, views

urlpatterns = [
    path("", views.run_list, name="runs"),
    path("login/", auth_views.LoginView.as_view(template_name="frontend/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("runs/new", views.run_new, name="run-new"),
    path("runs/new/specs", views.spec_list, name="run-new-specs"),
    path("runs/new/validate", views.validate_spec, name="run-new-validate"),
    path("runs/bulk", views.runs_bulk, name="runs-bulk"),
    path("runs/table", views.run_table, name="run-table"),
    path("runs/<str:pk>", views.run_detail, name="run-detail"),
    path("runs/<str:pk>/cancel", views.run_cancel, name="run-cancel"),
    path("runs/<str:pk>/checkpoints", views.run_checkpoints, name="run-checkpoints"),
    path("runs/<str:pk>/timeline", views.run_timeline, name="run-timeline"),
    path("runs/<str:pk>/events", live.run_events, name="run-events"),
    path("runs/<str:pk>/diff", views.run_diff, name="run-diff"),
    path("runs/<str:pk>/tags", views.run_tags, name="run-tags"),
    path("sweeps", sweeps.sweep_list, name="sweeps"),
    path("sweeps/new", sweeps.sweep_new, name="sweep-new"),
    path("sweeps/<str:pk>", sweeps.sweep_detail, name="sweep-detail"),
    path("sweeps/<str:pk>/trials", sweeps.sweep_trials, name="sweep-trials"),
    path("sweeps/<str:pk>/cancel", sweeps.sweep_cancel, name="sweep-cancel"),
    path("datasets", views.dataset_list, name="datasets"),
    path("datasets/<int:pk>", views.dataset_detail, name="dataset-detail"),
    path("datasets/<int:pk>/verify", views.dataset_verify, name="dataset-verify"),
    path("leaderboard", leaderboard.leaderboard, name="leaderboard"),
    path("teams", teams.team_list, name="teams"),
    path("teams/<slug:slug>", teams.team_detail, name="team-detail"),
    path("teams/<slug:slug>/members", teams.member_add, name="team-member-add"),
    path("teams/<slug:slug>/members/<int:member_id>/role", teams.member_role, name="team-member-role"),
    path("teams/<slug:slug>/members/<int:member_id>/remove", teams.member_remove, name="team-member-remove"),
    path("tokens", teams.token_list, name="tokens"),
    path("tokens/<int:token_id>/revoke", teams.token_revoke, name="token-revoke"),
]
