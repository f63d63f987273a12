#!/usr/bin/env python3
"""Onboard a Relying Party into the test Trust Anchor and print its sp-public trust mark.

Usage:
  CIE_PEERS_DATA_DIR=DIR python onboard_rp.py RP_ENTITY_ID FED_JWKS [--json] [--offline]

FED_JWKS: a file (or "-" for stdin) with the RP's *federation* public keys, as
{"keys": [...]}, a list of JWKs, or one JWK. Private keys are refused.
In the TA database (DIR/ta.sqlite3; DIR may also come from $SPORTELLO_TEST_CIE_DATA) it
creates or updates a FederationDescendant (sub = RP_ENTITY_ID, type openid_relying_party,
active, status valid, jwks = FED_JWKS) with the profile
https://www.spid.gov.it/openid-federation/agreement/sp-public, so the TA issues that trust mark.

Output (stdout, one line): the trust mark JWT, as served by the running TA at
GET http://127.0.0.1:8000/fetch?sub=RP_ENTITY_ID; with --json, the whole trust_marks entry
of that subordinate statement (a JSON object with "trust_mark" and the trust mark type).
--offline: compute it from the database instead (the TA need not be running).
Running it again for the same RP replaces its keys.
"""
import base64
import json
import os
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ["DJANGO_SETTINGS_MODULE"] = "settings_ta"

SP_PUBLIC = "https://www.spid.gov.it/openid-federation/agreement/sp-public"
TA = "http://127.0.0.1:8000"


def jwt_payload(jws: str) -> dict:
    part = jws.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def read_jwks(path: str) -> list:
    if path == "-":
        jwks = json.load(sys.stdin)
    else:
        with open(path, encoding="utf-8") as f:
            jwks = json.load(f)
    if isinstance(jwks, dict):
        jwks = jwks.get("keys", [jwks])
    return jwks


def onboard(sub: str, jwks: list):
    import django

    django.setup()
    from django.db import transaction
    from spid_cie_oidc.authority.models import (
        FederationDescendant, FederationEntityAssignedProfile, FederationEntityProfile)
    from spid_cie_oidc.entity.models import get_first_self_trust_anchor
    from spid_cie_oidc.entity.validators import validate_public_jwks

    validate_public_jwks(jwks)
    ta = get_first_self_trust_anchor(TA)
    profile = FederationEntityProfile.objects.get(profile_id=SP_PUBLIC)
    # SQLite refuses at once (no busy wait) a deferred transaction that read and then wants to
    # write while another process writes: "database is locked". Parallel tests onboard at the
    # same time, so the whole transaction (rolled back) is tried again.
    from django.db import OperationalError
    for attempt in range(40):
        try:
            with transaction.atomic():
                desc, _ = FederationDescendant.objects.update_or_create(
                    sub=sub,
                    defaults=dict(name=sub[-33:], type="openid_relying_party", jwks=jwks,
                                  status="valid", is_active=True),
                )
                FederationEntityAssignedProfile.objects.get_or_create(
                    descendant=desc, profile=profile, issuer=ta)
            return desc
        except OperationalError as e:
            if "locked" not in str(e) or attempt == 39:
                raise
            time.sleep(0.25)


def main(argv):
    flags = {a for a in argv if a.startswith("--")}
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 2 or not flags <= {"--json", "--offline"}:
        sys.exit(__doc__)
    sub, jwks_path = args
    desc = onboard(sub, read_jwks(jwks_path))
    if "--offline" in flags:
        trust_marks = desc.trust_marks
    else:
        url = f"{TA}/fetch?" + urllib.parse.urlencode({"sub": sub})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        trust_marks = jwt_payload(opener.open(url, timeout=10).read().decode()).get(
            "trust_marks", [])
    entry = next(t for t in trust_marks if SP_PUBLIC in (t.get("trust_mark_type"), t.get("id")))
    print(json.dumps(entry) if "--json" in flags else entry["trust_mark"])


if __name__ == "__main__":
    main(sys.argv[1:])
