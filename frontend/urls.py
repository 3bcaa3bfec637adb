from django.contrib.auth import views as auth_views
from django.urls import path

from . import live, views

urlpatterns = [
    path("", views.run_list, name="runs"),
    path("login/", auth_views.LoginView.as_view(template_name="frontend/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("runs/new", views.run_new, name="run-new"),
    path("runs/table", views.run_table, name="run-table"),
    path("runs/<str:pk>", views.run_detail, name="run-detail"),
    path("runs/<str:pk>/cancel", views.run_cancel, name="run-cancel"),
    path("runs/<str:pk>/checkpoints", views.run_checkpoints, name="run-checkpoints"),
    path("runs/<str:pk>/timeline", views.run_timeline, name="run-timeline"),
    path("runs/<str:pk>/events", live.run_events, name="run-events"),
]
