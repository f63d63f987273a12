#!/usr/bin/env python3
"""A FAKE of pagoPA for the tests — the GPD debt positions, the GPD payments (receipts) and
Checkout for enti: the national platform cannot be reached from here, so this implements the
part of its published APIs Sportello uses (the documents in --spec-dir, i.e.
../shared/standards/pagopa/: gpd-debt-positions-external-v1.json, gpd-payments.json,
checkout-ec-v1.json) and validates every request against them. It is a test double, never a
pagoPA service (docs/payments.md).

POST /organizations/{cf}/debtpositions?toPublish=true|false
     header Ocp-Apim-Subscription-Key; body PaymentPositionModel (validated; read-only
     members refused). 201 with the position; 409 (ProblemJson) when the iupd, or one of its
     IUVs, is already known for the organization.
GET  /organizations/{cf}/debtpositions/{iupd}   200 PaymentPositionModelBaseResponse, 404.
GET  /payments/{cf}/receipts/{iuv}   200 application/xml (the receipt) once paid, else 404.
POST /carts      (Checkout) body CartRequest (validated): 302 to the fake's checkout page.
GET  /_state     (test control) positions by iupd, calls, violations.
POST /_control   (test control) {"fail": n, "fail_status": 500}: answer the next n calls with
                 that status (nothing done); {"lose_answers": n}: do the next n creations,
                 then answer 500 as if the answer were lost on the way; {"hold_secs": s}:
                 wait s seconds before answering (timeouts); {"pay": iupd}: mark a position
                 paid.

Every answer of ours is validated against the document's schema for it too; violations are
kept in /_state's `violations`, which the tests assert empty. Prints READY <port>.
"""

import argparse
import datetime
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LOCK = threading.Lock()
STATE = {"calls": 0, "positions": {}, "violations": [], "fail": 0, "fail_status": 500,
         "lose_answers": 0, "hold_secs": 0, "requests": [], "carts": [], "receipts_read": 0}
KEY = None
PORT = None
# The documents by name: "gpd" (OpenAPI 3.1), "payments" and "checkout" (OpenAPI 3.0).
SPECS = {}
VALIDATORS = {}
GPD = "gpd"


def validator(name, doc=GPD):
    import jsonschema
    if (doc, name) not in VALIDATORS:
        schema = {"$ref": f"#/components/schemas/{name}", "components": SPECS[doc]["components"]}
        cls = jsonschema.Draft202012Validator if doc == GPD else jsonschema.Draft7Validator
        VALIDATORS[(doc, name)] = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return VALIDATORS[(doc, name)]


def read_only_members(name, value, path=""):
    """Members the document marks readOnly that a request carries anyway."""
    schema = SPECS[GPD]["components"]["schemas"][name]
    found = []
    for key, prop in schema.get("properties", {}).items():
        if key not in value:
            continue
        if prop.get("readOnly"):
            found.append(f"{path}{key}")
        ref = prop.get("$ref") or prop.get("items", {}).get("$ref")
        if ref:
            child = ref.rsplit("/", 1)[1]
            items = value[key] if isinstance(value[key], list) else [value[key]]
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    found += read_only_members(child, item, f"{path}{key}/{i}/")
    return found


def violations(name, value, request=True, doc=GPD):
    found = [f"{name} {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
             for e in validator(name, doc).iter_errors(value)]
    if request and doc == GPD:
        found += [f"{name} {m}: read-only member sent" for m in read_only_members(name, value)]
    if found:
        with LOCK:
            STATE["violations"].extend(found)
    return found


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body=None, schema=None):
        if schema is not None and body is not None:
            violations(schema, body, request=False)
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Request-Id", str(STATE["calls"]))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def problem(self, status, title, detail):
        self.answer(status, {"title": title, "status": status, "detail": detail}, "ProblemJson")

    def receipt(self, cf, iuv):
        with LOCK:
            paid = [(p, o) for p in STATE["positions"].values()
                    if p["organizationFiscalCode"] == cf and p["status"] == "PAID"
                    for o in p["paymentOption"] if o["iuv"] == iuv]
            STATE["receipts_read"] += 1
        if not paid:
            return self.problem(404, "Not Found", "No receipt found.")
        position, option = paid[0]
        xml = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
               "<paSendRTReq><idPA>" + cf + "</idPA><receipt>"
               "<receiptId>" + position["iupd"] + "</receiptId>"
               "<noticeNumber>" + option["nav"] + "</noticeNumber>"
               "<fiscalCode>" + cf + "</fiscalCode><outcome>OK</outcome>"
               "<creditorReferenceId>" + iuv + "</creditorReferenceId>"
               "<paymentAmount>" + f"{option['amount'] / 100:.2f}" + "</paymentAmount>"
               "<paymentDateTime>" + option["paymentDate"] + "</paymentDateTime>"
               "</receipt></paSendRTReq>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(xml)))
        self.end_headers()
        self.wfile.write(xml)

    def authorized(self):
        if self.headers.get("Ocp-Apim-Subscription-Key") != KEY:
            self.answer(401)
            return False
        return True

    def gate(self):
        """Counts the call; answers the failure the test asked for (True: answered)."""
        with LOCK:
            STATE["calls"] += 1
            hold = STATE["hold_secs"]
            fail = STATE["fail"] > 0
            if fail:
                STATE["fail"] -= 1
            status = STATE["fail_status"]
        if hold:
            time.sleep(hold)
        if fail:
            self.problem(status, "Service Unavailable", "told to fail by the test")
            return True
        return False

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/_state":
            with LOCK:
                return self.answer(200, {k: STATE[k] for k in
                                         ("calls", "positions", "violations", "requests",
                                          "carts", "receipts_read")})
        r = re.fullmatch(r"/payments/([^/]+)/receipts/([^/]+)", url.path)
        if r:
            if self.gate() or not self.authorized():
                return
            return self.receipt(*r.groups())
        m = re.fullmatch(r"/organizations/([^/]+)/debtpositions/([^/]+)", url.path)
        if not m:
            return self.problem(404, "Not Found", url.path)
        if self.gate() or not self.authorized():
            return
        cf, iupd = m.groups()
        with LOCK:
            p = STATE["positions"].get(iupd)
        if p is None or p["organizationFiscalCode"] != cf:
            return self.problem(404, "Not Found", f"no debt position {iupd}")
        self.answer(200, p, "PaymentPositionModelBaseResponse")

    def do_POST(self):
        url = urlparse(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if url.path == "/_control":
            body = json.loads(raw)
            with LOCK:
                if "pay" in body:
                    p = STATE["positions"][body.pop("pay")]
                    p["status"] = "PAID"
                    p["paymentDate"] = now()
                    for o in p["paymentOption"]:
                        o["status"] = "PO_PAID"
                        o["paymentDate"] = p["paymentDate"]
                STATE.update(body)
            return self.answer(200, {})
        if url.path == "/carts":
            if self.gate() or not self.authorized():
                return
            try:
                cart = json.loads(raw)
            except ValueError:
                return self.problem(400, "Bad Request", "not JSON")
            broken = violations("CartRequest", cart, doc="checkout")
            if broken:
                return self.problem(400, "Bad Request", "; ".join(broken))
            with LOCK:
                STATE["carts"].append(cart)
                n = len(STATE["carts"])
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{PORT}/checkout/{n}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        m = re.fullmatch(r"/organizations/([^/]+)/debtpositions", url.path)
        if not m:
            return self.problem(404, "Not Found", url.path)
        if self.gate() or not self.authorized():
            return
        cf = m.group(1)
        query = parse_qs(url.query)
        publish = query.get("toPublish", ["false"])
        if publish not in (["true"], ["false"]):
            STATE["violations"].append(f"toPublish {publish}: not a boolean")
            return self.problem(400, "Bad Request", "toPublish must be true or false")
        try:
            body = json.loads(raw)
        except ValueError:
            return self.problem(400, "Bad Request", "not JSON")
        with LOCK:
            STATE["requests"].append(body)
        broken = violations("PaymentPositionModel", body)
        if broken:
            return self.problem(400, "Bad Request", "; ".join(broken))
        iuvs = {o["iuv"] for o in body.get("paymentOption", [])}
        with LOCK:
            known = [p for p in STATE["positions"].values() if p["organizationFiscalCode"] == cf]
            duplicate = body["iupd"] in STATE["positions"] or any(
                o["iuv"] in iuvs for p in known for o in p["paymentOption"])
            if duplicate:
                lose = False
            else:
                ts = now()
                position = {
                    "iupd": body["iupd"], "organizationFiscalCode": cf, "type": body["type"],
                    "companyName": body["companyName"], "insertedDate": ts,
                    "publishDate": ts if publish == ["true"] else None,
                    "status": "VALID" if publish == ["true"] else "DRAFT",
                    "lastUpdatedDate": ts,
                    "paymentOption": [
                        {"nav": "3" + o["iuv"], "iuv": o["iuv"], "organizationFiscalCode": cf,
                         "amount": o["amount"], "description": o["description"],
                         "isPartialPayment": o["isPartialPayment"], "dueDate": o["dueDate"],
                         "insertedDate": ts, "status": "PO_UNPAID", "lastUpdatedDate": ts,
                         "transfer": [dict(t, status="T_UNREPORTED") for t in o.get("transfer", [])]}
                        for o in body.get("paymentOption", [])],
                }
                position = {k: v for k, v in position.items() if v is not None}
                STATE["positions"][body["iupd"]] = position
                lose = STATE["lose_answers"] > 0
                if lose:
                    STATE["lose_answers"] -= 1
        if duplicate:
            return self.problem(409, "Conflict", "duplicate debt position found")
        if lose:
            return self.problem(500, "Internal Server Error", "answer lost (told by the test)")
        created = dict(body, status="VALID" if publish == ["true"] else "DRAFT")
        self.answer(201, created, "PaymentPositionModel")


def main():
    global KEY, PORT
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--key", required=True, help="the expected Ocp-Apim-Subscription-Key")
    p.add_argument("--spec-dir", required=True, help="the directory of the pagoPA documents")
    a = p.parse_args()
    KEY, PORT = a.key, a.port
    for name, file in (("gpd", "gpd-debt-positions-external-v1.json"),
                       ("payments", "gpd-payments.json"), ("checkout", "checkout-ec-v1.json")):
        with open(f"{a.spec_dir}/{file}", encoding="utf-8") as f:
            SPECS[name] = json.load(f)
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    print(f"READY {a.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
