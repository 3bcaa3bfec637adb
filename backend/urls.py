"""URL map: the REST API under /api/, the dashboard at the root, the admin under /admin/."""
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from backend.experiments import api

router = DefaultRouter(trailing_slash=False)
router.register("runs", api.RunViewSet, basename="run")
router.register("datasets", api.DatasetViewSet, basename="dataset")

urlpatterns = [
    path("api/", include(router.urls)),
    path("api/ingest/<str:run_id>", api.ingest, name="ingest"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("admin/", admin.site.urls),
    path("", include("frontend.urls")),
]
