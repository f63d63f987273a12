"""Django settings of the test CIE OpenID Provider at http://127.0.0.1:8002/oidc/op.

Its data (keys, test users) comes from the shared fixture provider.example.json.
"""
from settings_common import *  # noqa: F401,F403
from settings_common import sqlite_db

ROOT_URLCONF = "urls_op"
OIDCFED_PROVIDER_PROFILE = "cie"
OIDCFED_PROVIDER_MAX_CONSENT_TIMEFRAME = 3600  # seconds
INSTALLED_APPS = [
    "spid_cie_oidc.accounts",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "bootstrap_italia_template",
    "spid_cie_oidc.entity",
    "spid_cie_oidc.provider",
]
DATABASES = sqlite_db("op.sqlite3")
