"""URLs of the test Trust Anchor: /.well-known/openid-federation, /fetch, /list,
/resolve, /trust_mark_status, ..."""
from spid_cie_oidc.authority.urls import urlpatterns as ta_urls
from spid_cie_oidc.entity.urls import urlpatterns as entity_urls

urlpatterns = [*entity_urls, *ta_urls]
