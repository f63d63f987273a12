"""URLs of the test CIE OpenID Provider, all under /oidc/op/: authorization, consent, token,
userinfo, revocation, introspection, .well-known/openid-federation, resolve."""
from django.urls import path
from spid_cie_oidc.entity.views import entity_configuration, resolve_entity_statement
from spid_cie_oidc.provider.urls import urlpatterns as op_urls

urlpatterns = [
    *op_urls,
    path("oidc/op/.well-known/openid-federation", entity_configuration,
         name="op_entity_configuration"),
    path("oidc/op/resolve", resolve_entity_statement, name="op_entity_resolve"),
]
