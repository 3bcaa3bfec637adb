"""How the OpenAPI schema (drf-spectacular) describes personal API tokens: HTTP bearer auth."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "backend.accounts.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "A personal API token (`ty_...`) from the Tokens page or `manage.py create_token`."}
