#!/usr/bin/env python3
"""A SPID identity provider peer for the test suite (command line, JSON on stdout).

This is test scaffolding, not an IdP: it plays the identity provider side of the SAML2
exchanges our service provider takes part in, one message per invocation, with no state.
It is built on two third-party pieces that the SPID ecosystem itself uses:

* the AuthnRequest -> Response leg follows spid-sp-test's response "case 1" ("Response
  corretta"): its `base.xml` Jinja template, its attribute template and its way of signing
  with the xmlsec1 binary (assertion first, then response, RSA-SHA256, exclusive c14n);
* the single logout messages are made by pysaml2 (`saml2.server.Server`, configured like
  `spid_sp_test.idp.settings.SAML2_IDP_CONFIG`, with the SP metadata loaded in memory).

Every message the SP sends us is checked against the signing certificate(s) in the SP
metadata: HTTP-Redirect signatures with `cryptography` over the query string rebuilt from the
raw (still URL-encoded) parameters, HTTP-POST enveloped signatures with `xmlsec1 --verify`.

Key pair: `$IDP_CERT_PATH/private.key` and `$IDP_CERT_PATH/public.cert` (PEM), the same files
`spid_sp_test --idp-metadata` publishes. Default entityID `https://localhost:8443`.

Usage: spid_idp.py COMMAND --sp-metadata FILE [--entity-id ID] [options]
  response              --authn-url URL | --authn-form FILE   [--level 1|2|3] [--sign both|assertion|response]
                        [--response-id ID] [--assertion-id ID] [--name-id X] [--session-index X]
                        [--fiscal-number X] [--name X] [--family-name X] [--email X]
  logout-request        --name-id X --session-index X [--binding redirect|post] [--relay-state RS]
  parse-logout-request  --url URL
  logout-response       --in-response-to ID [--status success|requester|responder|partial]
                        [--binding redirect|post] [--relay-state RS]
  parse-logout-response --url URL
Exit status 0 with one JSON object on stdout, or 1 with a one-line reason on stderr when the
input is refused (bad or missing signature, wrong issuer, malformed message...).

Notes: as in spid-sp-test's template, the Response's NameID text is wrapped in whitespace/newlines
(the JSON "name_id" is the bare value). `--status partial` is a top-level Success with the
second-level code PartialLogout. The "post" outputs carry the form fields to POST to "url".
"""
import argparse
import base64
import binascii
import copy
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
import warnings
import zlib
from urllib.parse import unquote_plus, urlsplit

# pysaml2 touches a deprecated cryptography name on import; keep stderr for real reasons.
warnings.filterwarnings("ignore", message=r".*cryptography\.hazmat\.decrepit")

from cryptography import x509  # noqa: E402
from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402
from jinja2 import Environment, FileSystemLoader, Template, select_autoescape  # noqa: E402
from lxml import etree, html  # noqa: E402
from markupsafe import Markup, escape  # noqa: E402
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, samlp  # noqa: E402
from saml2.config import IdPConfig  # noqa: E402
from saml2.saml import NAMEID_FORMAT_ENTITY, NAMEID_FORMAT_TRANSIENT, Issuer, NameID  # noqa: E402
from saml2.server import Server  # noqa: E402
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256  # noqa: E402
from spid_sp_test import BASE_DIR as SPID_SP_TEST_DIR  # noqa: E402
from spid_sp_test.idp.settings import SAML2_IDP_CONFIG  # noqa: E402
from spid_sp_test.responses import settings as spid_responses  # noqa: E402

NS = {
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
}
DEFAULT_ENTITY_ID = "https://localhost:8443"
SPID_LEVEL = "https://www.spid.gov.it/SpidL{}"
REDIRECT_SIG_HASHES = {
    SIG_RSA_SHA256: hashes.SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": hashes.SHA384,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512,
}
STATUS = "urn:oasis:names:tc:SAML:2.0:status:"
LOGOUT_STATUSES = {  # --status -> (top-level code, second-level code)
    "success": (STATUS + "Success", None),
    "requester": (STATUS + "Requester", None),
    "responder": (STATUS + "Responder", None),
    "partial": (STATUS + "Success", STATUS + "PartialLogout"),
}
BINDINGS = {"redirect": BINDING_HTTP_REDIRECT, "post": BINDING_HTTP_POST}


class Refused(Exception):
    """The input is not something an IdP would accept; the message is the reason."""


def q(prefix, name):
    return f"{{{NS[prefix]}}}{name}"


def parse_xml(data):
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as e:
        raise Refused(f"not well-formed XML: {e}")


def utc(delta_minutes=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=delta_minutes)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id():
    return f"_{uuid.uuid4()}"


def b64decode(text, what):
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f"{what} is not valid base64")


class SpMetadata:
    """The few things we need from the SP's metadata."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.xml = f.read()
        root = parse_xml(self.xml)
        if root.tag != q("md", "EntityDescriptor"):
            raise Refused("SP metadata: root is not md:EntityDescriptor")
        self.entity_id = root.get("entityID")
        self.sp = root.find("md:SPSSODescriptor", NS)
        if self.sp is None:
            raise Refused("SP metadata: no SPSSODescriptor")
        self.certs = []
        for kd in self.sp.findall("md:KeyDescriptor", NS):
            if kd.get("use", "signing") != "signing":
                continue
            for c in kd.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS):
                der = b64decode(c.text or "", "SP metadata certificate")
                self.certs.append(x509.load_der_x509_certificate(der))
        if not self.certs:
            raise Refused("SP metadata: no signing certificate")

    def indexed(self, tag, index):
        for el in self.sp.findall(f"md:{tag}", NS):
            if el.get("index") == index:
                return el
        raise Refused(f"SP metadata: no {tag} with index {index}")

    def cert_files(self):
        """Yields a temporary PEM file per signing certificate (for xmlsec1)."""
        for cert in self.certs:
            with tempfile.NamedTemporaryFile(suffix=".pem") as f:
                f.write(cert.public_bytes(serialization.Encoding.PEM))
                f.flush()
                yield f.name


def check_issuer(root, sp):
    issuer = root.find("saml:Issuer", NS)
    if issuer is None or (issuer.text or "").strip() != sp.entity_id:
        raise Refused(f"Issuer is not the SP metadata entityID {sp.entity_id!r}")
    return issuer


# --- receiving: HTTP-Redirect and HTTP-POST bindings -----------------------------------------


def receive_redirect(url, kind, sp):
    """Verifies a signed HTTP-Redirect message; returns (XML root, RelayState or None)."""
    raw = {}
    for part in urlsplit(url).query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if name in raw:
            raise Refused(f"query parameter {name} repeated")
        raw[name] = value  # still URL-encoded, exactly as received
    if kind not in raw:
        raise Refused(f"no {kind} in the URL")
    if "Signature" not in raw or "SigAlg" not in raw:
        raise Refused("HTTP-Redirect message is not signed (Signature/SigAlg missing)")
    sig_alg = unquote_plus(raw["SigAlg"])
    if sig_alg not in REDIRECT_SIG_HASHES:
        raise Refused(f"unsupported SigAlg {sig_alg}")
    # SAML bindings 3.4.4.1: sign "SAMLxxx=..&RelayState=..&SigAlg=.." on the encoded values.
    signed = "&".join(f"{k}={raw[k]}" for k in (kind, "RelayState", "SigAlg") if k in raw)
    signature = b64decode(unquote_plus(raw["Signature"]), "Signature")
    for cert in sp.certs:
        try:
            cert.public_key().verify(
                signature, signed.encode("ascii"), padding.PKCS1v15(), REDIRECT_SIG_HASHES[sig_alg]()
            )
            break
        except InvalidSignature:
            continue
    else:
        raise Refused("HTTP-Redirect signature does not verify with the SP metadata certificate")
    try:
        xml = zlib.decompress(b64decode(unquote_plus(raw[kind]), kind), -15)
    except zlib.error:
        raise Refused(f"{kind} is not raw DEFLATE data")
    relay_state = unquote_plus(raw["RelayState"]) if "RelayState" in raw else None
    return parse_xml(xml), relay_state


def receive_post_authn(form_file, sp):
    """Verifies the enveloped signature of an AuthnRequest in an auto-submitting HTML form."""
    with open(form_file, encoding="utf-8") as f:
        page = html.fromstring(f.read())
    fields = {i.get("name"): i.get("value") for i in page.iter("input") if i.get("name")}
    if "SAMLRequest" not in fields:
        raise Refused("no SAMLRequest input in the HTML form")
    xml = b64decode(fields["SAMLRequest"], "SAMLRequest")
    root = parse_xml(xml)
    # Signature-wrapping guard: one signature, child of the root, referencing the root's ID.
    ids = [el.get("ID") for el in root.iter() if el.get("ID") is not None]
    sigs = root.findall(".//ds:Signature", NS)
    if len(sigs) != 1 or sigs[0].getparent() is not root:
        raise Refused("AuthnRequest must carry exactly one enveloped ds:Signature")
    refs = sigs[0].findall("ds:SignedInfo/ds:Reference", NS)
    if len(refs) != 1 or refs[0].get("URI") != f"#{root.get('ID')}" or ids.count(root.get("ID")) != 1:
        raise Refused("AuthnRequest signature does not reference the AuthnRequest ID")
    with tempfile.NamedTemporaryFile(suffix=".xml") as doc:
        doc.write(xml)
        doc.flush()
        for cert_file in sp.cert_files():
            # raw-x509-cert only: ignore any certificate in the message's own KeyInfo.
            cmd = ["xmlsec1", "--verify", "--enabled-reference-uris", "same-doc",
                   "--enabled-key-data", "raw-x509-cert", "--pubkey-cert-pem", cert_file,
                   "--id-attr:ID", f"{NS['samlp']}:AuthnRequest", doc.name]
            if subprocess.run(cmd, capture_output=True).returncode == 0:
                return root, fields.get("RelayState")
    raise Refused("AuthnRequest XML signature does not verify with the SP metadata certificate")


# --- response: spid-sp-test's case 1 ----------------------------------------------------------


def xmlsec_sign(xml, node_id, node_class, key_file, cert_file):
    """Signs the element with ID node_id: fills the SIGNATURE_TMPL placeholder with xmlsec1."""
    with tempfile.NamedTemporaryFile(suffix=".xml") as doc:
        doc.write(xml.encode())
        doc.flush()
        cmd = ["xmlsec1", "--sign", "--privkey-pem", f"{key_file},{cert_file}",
               "--id-attr:ID", node_class, "--node-id", node_id, doc.name]
        out = subprocess.run(cmd, capture_output=True)
    if out.returncode != 0:
        sys.exit(f"xmlsec1 --sign failed: {out.stderr.decode().strip()}")
    return out.stdout.decode()


def cmd_response(args, ctx):
    sp, idp_id = ctx.sp, ctx.idp_id
    if args.authn_url:
        req, relay_state = receive_redirect(args.authn_url, "SAMLRequest", sp)
    else:
        req, relay_state = receive_post_authn(args.authn_form, sp)
    if req.tag != q("samlp", "AuthnRequest"):
        raise Refused("the SAMLRequest is not an AuthnRequest")
    issuer = check_issuer(req, sp)
    audience = issuer.get("NameQualifier")
    if not audience:
        raise Refused("AuthnRequest Issuer has no NameQualifier")
    request_id = req.get("ID")
    if not request_id:
        raise Refused("AuthnRequest has no ID")
    acr = req.findtext("samlp:RequestedAuthnContext/saml:AuthnContextClassRef", namespaces=NS)
    if args.level:
        level = SPID_LEVEL.format(args.level)
    elif acr and acr.strip() in [SPID_LEVEL.format(n) for n in "123"]:
        level = acr.strip()
    else:
        raise Refused(f"AuthnRequest asks for no SPID level (AuthnContextClassRef {acr!r})")
    if req.get("AssertionConsumerServiceIndex") is None:
        raise Refused("AuthnRequest has no AssertionConsumerServiceIndex")
    acs_url = sp.indexed("AssertionConsumerService", req.get("AssertionConsumerServiceIndex")).get("Location")

    values = dict(spid_responses.ATTRIBUTES)
    values.update(fiscalNumber=args.fiscal_number, name=args.name,
                  familyName=args.family_name, email=args.email)
    acs = sp.indexed("AttributeConsumingService", req.get("AttributeConsumingServiceIndex", "0"))
    requested = [ra.get("Name") for ra in acs.findall("md:RequestedAttribute", NS)]
    unknown = [a for a in requested if a not in values]
    if unknown:
        raise Refused(f"SP requests attributes a SPID IdP does not release: {unknown}")
    attr_tmpl = Template(spid_responses.ATTRIBUTE_TMPL, autoescape=True)
    def render(name, value):
        return attr_tmpl.render(name=name, value=value,
                                type=spid_responses.ATTRIBUTES_TYPES.get(name, "string"))

    rendered = []
    for a in requested:
        attr = render(a, values[a])
        for extra in args.extra_value or []:
            name, _, value = extra.partition("=")
            if name == a:
                # A second AttributeValue inside the same Attribute.
                m = re.search(r"(<saml:AttributeValue[^>]*>)(.*?)(</saml:AttributeValue>)", attr, re.S)
                attr = attr[:m.end()] + m.group(1) + str(escape(value)) + m.group(3) + attr[m.end():]
        rendered.append(attr)
    for extra in args.duplicate_attribute or []:
        # The same Attribute released a second time, with another value.
        name, _, value = extra.partition("=")
        rendered.append(render(name, value))
    attributes = Markup("\n".join(rendered))

    now = utc()
    data = {
        "ResponseID": args.response_id or new_id(),
        "AssertionID": args.assertion_id or new_id(),
        "AuthnRequestID": request_id,
        "IssueInstant": now,
        "AuthnIstant": now,  # sic, the template's spelling
        "NotOnOrAfter": utc(5),
        "AssertionConsumerURL": acs_url,
        "Issuer": idp_id,
        "NameIDNameQualifier": idp_id,
        "NameID": args.name_id or new_id(),
        "SessionIndex": args.session_index or new_id(),
        "Audience": audience,
        "AuthnContextClassRef": level,
        "sign_assertion": args.sign in ("both", "assertion"),
        "sign_response": args.sign in ("both", "response"),
        "Attributes": attributes,
    }
    env = Environment(loader=FileSystemLoader(f"{SPID_SP_TEST_DIR}/responses/templates"),
                      autoescape=select_autoescape(["xml"]))
    xml = env.get_template("base.xml").render(**data)
    signature = Template(spid_responses.SIGNATURE_TMPL)
    for placeholder, node_id, node_class in (
        ("<!-- Assertion Signature here -->", data["AssertionID"], f"{NS['saml']}:Assertion"),
        ("<!-- Response Signature here -->", data["ResponseID"], f"{NS['samlp']}:Response"),
    ):
        if placeholder in xml:
            xml = xml.replace(placeholder, signature.render(ReferenceURI=f"#{node_id}"))
            xml = xmlsec_sign(xml, node_id, node_class, ctx.key_file, ctx.cert_file)
    return {
        "acs_url": acs_url,
        "SAMLResponse": base64.b64encode(xml.encode()).decode(),
        "RelayState": relay_state,
        "in_response_to": request_id,
        "response_id": data["ResponseID"],
        "assertion_id": data["AssertionID"],
        "name_id": data["NameID"],
        "session_index": data["SessionIndex"],
        "level": level,
    }


# --- single logout: pysaml2 -------------------------------------------------------------------


def idp_server(ctx):
    conf = copy.deepcopy(SAML2_IDP_CONFIG)
    sso = f"{ctx.idp_id}/samlsso"
    conf.update(entityid=ctx.idp_id, key_file=ctx.key_file, cert_file=ctx.cert_file,
                metadata={"inline": [ctx.sp.xml.decode()]})
    conf["service"]["idp"]["endpoints"] = {
        "single_sign_on_service": [(sso, BINDING_HTTP_POST), (sso, BINDING_HTTP_REDIRECT)],
        "single_logout_service": [(sso, BINDING_HTTP_POST), (sso, BINDING_HTTP_REDIRECT)],
    }
    config = IdPConfig()
    config.load(conf)
    return Server(config=config)


def spid_issuer(idp_id):
    return Issuer(text=idp_id, format=NAMEID_FORMAT_ENTITY, name_qualifier=idp_id)


def slo_location(server, sp, binding):
    services = server.metadata.single_logout_service(sp.entity_id, BINDINGS[binding], "spsso")
    if not services:
        raise Refused(f"SP metadata: no SingleLogoutService with the {binding} binding")
    return services[0]["location"]


def send(server, binding, kind, msg, destination, relay_state):
    """HTTP-Redirect: signed query string, no XML signature; HTTP-POST: enveloped signature."""
    if binding == "redirect":
        info = server.apply_binding(BINDING_HTTP_REDIRECT, str(msg), destination, relay_state,
                                    response=(kind == "SAMLResponse"), sign=True, sigalg=SIG_RSA_SHA256)
        return {"id": msg.id, "url": dict(info["headers"])["Location"]}
    signed = server.sign(msg, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256)
    form = {kind: base64.b64encode(signed.encode()).decode(), "RelayState": relay_state or ""}
    return {"id": msg.id, "url": destination, "form": form}


def cmd_logout_request(args, ctx):
    server = idp_server(ctx)
    destination = slo_location(server, ctx.sp, args.binding)
    name_id = NameID(text=args.name_id, format=NAMEID_FORMAT_TRANSIENT, name_qualifier=ctx.idp_id)
    _, msg = server.create_logout_request(destination, ctx.sp.entity_id, name_id=name_id,
                                          session_indexes=[args.session_index], sign=False)
    msg.issuer = spid_issuer(ctx.idp_id)  # pysaml2's Issuer lacks the NameQualifier SPID wants
    return send(server, args.binding, "SAMLRequest", msg, destination, args.relay_state)


def cmd_logout_response(args, ctx):
    server = idp_server(ctx)
    destination = slo_location(server, ctx.sp, args.binding)
    top, second = LOGOUT_STATUSES[args.status]
    code = samlp.StatusCode(value=top)
    if second:
        code.status_code = samlp.StatusCode(value=second)
    msg = server._status_response(samlp.LogoutResponse, spid_issuer(ctx.idp_id),
                                  samlp.Status(status_code=code), sign=False,
                                  in_response_to=args.in_response_to, destination=destination)
    return send(server, args.binding, "SAMLResponse", msg, destination, args.relay_state)


def cmd_parse_logout_request(args, ctx):
    root, relay_state = receive_redirect(args.url, "SAMLRequest", ctx.sp)
    if root.tag != q("samlp", "LogoutRequest"):
        raise Refused("the SAMLRequest is not a LogoutRequest")
    if root.get("SessionIndex") is not None:
        raise Refused("SessionIndex must be a child element, not an attribute of LogoutRequest")
    session_indexes = [el.text for el in root.findall("samlp:SessionIndex", NS)]
    if not session_indexes:
        raise Refused("LogoutRequest has no SessionIndex element")
    issuer = check_issuer(root, ctx.sp)
    name_id = root.find("saml:NameID", NS)
    if name_id is None:
        raise Refused("LogoutRequest has no NameID")
    return {
        "id": root.get("ID"),
        "issuer": issuer.text,
        "issuer_name_qualifier": issuer.get("NameQualifier"),
        "destination": root.get("Destination"),
        "name_id": name_id.text,
        "name_id_format": name_id.get("Format"),
        "name_id_name_qualifier": name_id.get("NameQualifier"),
        "session_indexes": session_indexes,
        "relay_state": relay_state,
        "issue_instant": root.get("IssueInstant"),
    }


def cmd_parse_logout_response(args, ctx):
    root, relay_state = receive_redirect(args.url, "SAMLResponse", ctx.sp)
    if root.tag != q("samlp", "LogoutResponse"):
        raise Refused("the SAMLResponse is not a LogoutResponse")
    issuer = check_issuer(root, ctx.sp)
    code = root.find("samlp:Status/samlp:StatusCode", NS)
    if code is None:
        raise Refused("LogoutResponse has no StatusCode")
    sub = code.find("samlp:StatusCode", NS)
    return {
        "id": root.get("ID"),
        "in_response_to": root.get("InResponseTo"),
        "status": code.get("Value"),
        "sub_status": sub.get("Value") if sub is not None else None,
        "issuer": issuer.text,
        "destination": root.get("Destination"),
        "relay_state": relay_state,
    }


def parse_args(argv):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--sp-metadata", required=True, help="the SP's metadata XML file")
    common.add_argument("--entity-id", default=DEFAULT_ENTITY_ID, help="the IdP entityID")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cmds = p.add_subparsers(dest="command", required=True)

    r = cmds.add_parser("response", parents=[common])
    r.set_defaults(func=cmd_response)
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--authn-url", help="the Location the SP redirected to")
    src.add_argument("--authn-form", help="the HTML page of the HTTP-POST binding")
    r.add_argument("--level", choices=["1", "2", "3"])
    r.add_argument("--sign", choices=["both", "assertion", "response"], default="both")
    for opt in ("--response-id", "--assertion-id", "--name-id", "--session-index"):
        r.add_argument(opt)
    r.add_argument("--fiscal-number", default="TINIT-GDASDV00A01H501J")
    r.add_argument("--name", default="SpidValidator")
    r.add_argument("--family-name", default="AgID")
    r.add_argument("--email", default="spid.tech@agid.gov.it")
    r.add_argument("--duplicate-attribute", action="append", metavar="NAME=VALUE",
                   help="release the attribute NAME a second time, with VALUE")
    r.add_argument("--extra-value", action="append", metavar="NAME=VALUE",
                   help="give the attribute NAME a second AttributeValue, VALUE")

    lr = cmds.add_parser("logout-request", parents=[common])
    lr.set_defaults(func=cmd_logout_request)
    lr.add_argument("--name-id", required=True)
    lr.add_argument("--session-index", required=True)
    lr.add_argument("--binding", choices=list(BINDINGS), default="redirect")
    lr.add_argument("--relay-state")

    for name, func in (("parse-logout-request", cmd_parse_logout_request),
                       ("parse-logout-response", cmd_parse_logout_response)):
        cmd = cmds.add_parser(name, parents=[common])
        cmd.add_argument("--url", required=True)
        cmd.set_defaults(func=func)

    ls = cmds.add_parser("logout-response", parents=[common])
    ls.set_defaults(func=cmd_logout_response)
    ls.add_argument("--in-response-to", required=True)
    ls.add_argument("--status", choices=list(LOGOUT_STATUSES), default="success")
    ls.add_argument("--binding", choices=list(BINDINGS), default="redirect")
    ls.add_argument("--relay-state")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cert_dir = os.environ.get("IDP_CERT_PATH")
    if not cert_dir:
        sys.exit("IDP_CERT_PATH is not set (directory with public.cert and private.key)")
    try:
        ctx = argparse.Namespace(sp=SpMetadata(args.sp_metadata), idp_id=args.entity_id,
                                 key_file=f"{cert_dir}/private.key", cert_file=f"{cert_dir}/public.cert")
        result = args.func(args, ctx)
    except Refused as e:
        print(f"spid_idp {args.command}: refused: {e}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
