#!/usr/bin/env python3
"""The pysaml2 side of the "verify + validate one signed SPID Response" benchmark.

pysaml2 is the SAML library under spid-django, djangosaml2 and SATOSA, so this is what a
Python SPID service provider does at its AssertionConsumerService for every login. A
`saml2.client.Saml2Client` is configured as the SP (entityID, ACS and requested attributes
taken from the SP metadata, the IdP metadata from a file, want_assertions_signed=True,
want_response_signed=False, allow_unknown_attributes=True, crypto backend "xmlsec1") and
`parse_authn_request_response(..., BINDING_HTTP_POST, outstanding={ID: "/"})` is called in a
loop, reading the identity (ava) each time, for --seconds after 3 warm-up rounds. "One core":
this process and the xmlsec1 children it spawns are pinned to one CPU (inherited affinity).

Note: pysaml2 verifies XML signatures by running the `xmlsec1` binary in a subprocess, with
temporary files: per signature one `xmlsec1 --verify`, plus (pysaml2 7.5) two `xmlsec1
--version` runs, so 6 processes per Response signed twice. That is its normal, default stack,
the one those projects run in production; it is not a handicap added here.

Input: a base64 SAMLResponse as printed by tests/peers/spid_idp.py `response` (it expires
five minutes after it was made: keep --seconds well below that).

Usage: spid_pysaml2.py --response FILE --in-response-to ID --sp-metadata FILE --sp-key FILE
                       --sp-cert FILE --idp-metadata FILE --seconds N
Prints one JSON line: {"implementation", "iterations", "seconds", "per_second", "mean_ms"}.
"""
import argparse
import json
import logging
import os
import shutil
import sys
import time
import warnings

# pysaml2 touches a deprecated cryptography name on import.
warnings.filterwarnings("ignore", message=r".*cryptography\.hazmat\.decrepit")

from importlib.metadata import version  # noqa: E402

from lxml import etree  # noqa: E402
from saml2 import BINDING_HTTP_POST  # noqa: E402
from saml2.client import Saml2Client  # noqa: E402
from saml2.config import SPConfig  # noqa: E402
from saml2.saml import NAMEID_FORMAT_TRANSIENT  # noqa: E402

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
NS = {"md": MD}
WARM_UP = 3


def sp_client(args):
    root = etree.parse(args.sp_metadata, etree.XMLParser(resolve_entities=False)).getroot()
    sp = root.find("md:SPSSODescriptor", NS)
    acs = [(e.get("Location"), e.get("Binding")) for e in sp.findall("md:AssertionConsumerService", NS)]
    slo = [(e.get("Location"), e.get("Binding")) for e in sp.findall("md:SingleLogoutService", NS)]
    wanted = [ra.get("Name") for ra in sp.findall(
        "md:AttributeConsumingService[@index='0']/md:RequestedAttribute", NS)]
    conf = {
        "entityid": root.get("entityID"),
        "key_file": args.sp_key,
        "cert_file": args.sp_cert,
        "xmlsec_binary": shutil.which("xmlsec1"),
        "crypto_backend": "xmlsec1",
        "metadata": {"local": [args.idp_metadata]},
        "allow_unknown_attributes": True,
        "service": {
            "sp": {
                "endpoints": {"assertion_consumer_service": acs, "single_logout_service": slo},
                "want_assertions_signed": True,
                "want_response_signed": False,
                "authn_requests_signed": True,
                "allow_unsolicited": False,
                "name_id_format": [NAMEID_FORMAT_TRANSIENT],
                "requested_attributes": [{"name": n, "required": True} for n in wanted],
            },
        },
    }
    config = SPConfig()
    config.load(conf)
    return Saml2Client(config=config)


def one_round(client, saml_response, request_id, fiscal_number):
    resp = client.parse_authn_request_response(saml_response, BINDING_HTTP_POST, outstanding={request_id: "/"})
    if resp is None:
        raise SystemExit("pysaml2 returned no response (unravel error)")
    identity = resp.get_identity()
    subject = resp.get_subject()
    if fiscal_number not in identity.get("fiscalNumber", []):
        raise SystemExit(f"fiscalNumber missing from the identity: {identity}")
    return identity, subject


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--response", required=True, help="file with the base64 SAMLResponse")
    p.add_argument("--in-response-to", required=True, help="the AuthnRequest ID it answers")
    p.add_argument("--sp-metadata", required=True)
    p.add_argument("--sp-key", required=True)
    p.add_argument("--sp-cert", required=True)
    p.add_argument("--idp-metadata", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--fiscal-number", default="TINIT-GDASDV00A01H501J")
    args = p.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # pysaml2 logs failures at ERROR; we raise instead

    # One core: this process and the xmlsec1 children it spawns (affinity is inherited).
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with open(args.response) as f:
        saml_response = f.read().strip()
    client = sp_client(args)
    for _ in range(WARM_UP):
        one_round(client, saml_response, args.in_response_to, args.fiscal_number)

    iterations, elapsed = 0, 0.0
    start = time.perf_counter()
    while elapsed < args.seconds:
        one_round(client, saml_response, args.in_response_to, args.fiscal_number)
        iterations += 1
        elapsed = time.perf_counter() - start
    print(json.dumps({
        "implementation": f"pysaml2 {version('pysaml2')}",
        "iterations": iterations,
        "seconds": round(elapsed, 3),
        "per_second": round(iterations / elapsed, 1),
        "mean_ms": round(1000 * elapsed / iterations, 3),
    }))


if __name__ == "__main__":
    sys.exit(main())
