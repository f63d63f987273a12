"""Django settings shared by the CIE test peers (Trust Anchor and CIE OpenID Provider).

The SQLite databases live in $CIE_PEERS_DATA_DIR (or $SPORTELLO_TEST_CIE_DATA), so that
every test run starts from a fresh directory. Everything stays on 127.0.0.1, plain HTTP.
"""
import os

import aiohttp

DATA_DIR = os.environ.get("CIE_PEERS_DATA_DIR") or os.environ.get("SPORTELLO_TEST_CIE_DATA")
if not DATA_DIR:
    raise RuntimeError("set CIE_PEERS_DATA_DIR to a writable directory")


def sqlite_db(name):
    # The timeout lets parallel tests onboard RPs while the server reads the same file.
    return {"default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(DATA_DIR, name),
        "OPTIONS": {"timeout": 30},
    }}


SECRET_KEY = "test-only-not-secret-cie-peers-0123456789abcdefghijklmnopqrstuvwxyz"
DEBUG = os.environ.get("CIE_PEERS_DEBUG", "") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
APPEND_SLASH = False

TA_URL = "http://127.0.0.1:8000"
OIDCFED_DEFAULT_TRUST_ANCHOR = TA_URL
OIDCFED_TRUST_ANCHORS = [TA_URL]
# e.g. https://www.spid.gov.it/openid-federation/agreement/sp-public: the OP then refuses
# RPs whose entity configuration lacks that trust mark. Empty: trust marks are not checked.
OIDCFED_REQUIRED_TRUST_MARKS = [
    t for t in os.environ.get("CIE_PEERS_REQUIRED_TRUST_MARKS", "").split(",") if t
]
HTTPC_PARAMS = {  # plain http on loopback; a short timeout so that a dead peer fails fast
    "connection": {"ssl": False},
    "session": {"timeout": aiohttp.ClientTimeout(total=4)},
}

AUTH_USER_MODEL = "spid_cie_oidc_accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.debug",
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]

STATIC_URL = "static/"
LANGUAGE_CODE = "it-it"
TIME_ZONE = "Europe/Rome"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"default": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "default"}},
    "loggers": {
        "django": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "spid_cie_oidc": {"handlers": ["console"],
                          "level": os.environ.get("CIE_PEERS_LOG_LEVEL", "INFO"),
                          "propagate": False},
    },
}
