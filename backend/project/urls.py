"""URL map: the REST API under /api/, the dashboard at the root, the admin under /admin/."""
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from backend.accounts import api as accounts_api
from backend.deployments import api as deployments_api
from backend.evaluations import api as evaluations_api
from backend.experiments import api, sweeps_api
from backend.leaderboard import api as leaderboard_api

router = DefaultRouter(trailing_slash=False)
router.register("runs", api.RunViewSet, basename="run")
router.register("datasets", api.DatasetViewSet, basename="dataset")
router.register("sweeps", sweeps_api.SweepViewSet, basename="sweep")
router.register("leaderboard", leaderboard_api.LeaderboardViewSet, basename="leaderboard")
router.register("teams", accounts_api.TeamViewSet, basename="team")
router.register("tokens", accounts_api.ApiTokenViewSet, basename="token")
router.register("deployments", deployments_api.DeploymentViewSet, basename="deployment")
router.register("evaluations", evaluations_api.EvaluationViewSet, basename="evaluation")

urlpatterns = [
    path("api/", include(router.urls)),
    path("api/ingest/sweeps/<str:sweep_id>", sweeps_api.ingest_sweep, name="ingest-sweep"),
    path("api/ingest/sweeps/<str:sweep_id>/trials", sweeps_api.register_trial, name="ingest-sweep-trials"),
    path("api/ingest/<str:run_id>", api.ingest, name="ingest"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("admin/", admin.site.urls),
    path("", include("frontend.urls")),
]
