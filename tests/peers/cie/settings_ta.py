"""Django settings of the test Trust Anchor at http://127.0.0.1:8000.

Its data comes from the shared fixture federation_authority.example.json.
"""
from settings_common import *  # noqa: F401,F403
from settings_common import sqlite_db

ROOT_URLCONF = "urls_ta"
INSTALLED_APPS = [
    "spid_cie_oidc.accounts",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "spid_cie_oidc.entity",
    "spid_cie_oidc.authority",
]
DATABASES = sqlite_db("ta.sqlite3")
