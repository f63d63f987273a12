#!/usr/bin/env python3
"""A protocol system implementing Sportello's REST contract (docs/protocol-rest.openapi.yaml),
for the tests. Standard library only, plus PyYAML and jsonschema for `--contract`.

POST /registrations   with `Authorization: Bearer <token>` and `Idempotency-Key`: registers
                      the request (next number of the year) and answers 201 with
                      {number, year, registered_at}; the same key again answers the same
                      registration with 200 (and registers nothing).
GET  /_state          (test control) every registration and the number of calls.
POST /_control        (test control) {"refuse": bool, "hold_secs": n}: refuse the next
                      requests with 422 (problem+json); or, after registering, wait n seconds
                      before answering (so that a test can kill Sportello in between).

With `--contract docs/protocol-rest.openapi.yaml` every request body is validated against
the contract's `RegistrationRequest` schema (refused with 400 when it does not conform) and
every answer of ours against `Registered`; each violation is kept in `/_state`'s
`contract_violations`, which the tests assert empty.

Prints READY <port> once listening.
"""

import argparse
import base64
import datetime
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"calls": 0, "registrations": {}, "last_number": 0, "refuse": False, "hold_secs": 0,
         "bodies": [], "contract_violations": []}
TOKEN = None
# name -> validator, from the contract's components (None: no contract given).
CONTRACT = None


def json_schema(node):
    """An OpenAPI 3.0 schema object as JSON Schema: `nullable: true` becomes a type that also
    admits null; `example` is dropped."""
    if isinstance(node, list):
        return [json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: json_schema(v) for k, v in node.items() if k not in ("nullable", "example")}
    if node.get("nullable") is True and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def load_contract(path):
    import jsonschema
    import yaml
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    components = json_schema(doc["components"])
    validators = {}
    for name in ("RegistrationRequest", "Registered"):
        schema = {"$ref": f"#/components/schemas/{name}", "components": components}
        validators[name] = jsonschema.Draft7Validator(
            schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    return validators


def violations(name, value):
    """What in `value` breaks the contract's schema `name` (empty without a contract)."""
    if CONTRACT is None:
        return []
    found = [f"{name} {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
             for e in CONTRACT[name].iter_errors(value)]
    if found:
        with LOCK:
            STATE["contract_violations"].extend(found)
    return found
REQUIRED = ["idempotency_key", "aoo", "direction", "sender", "subject", "submitted_at",
            "document", "attachments"]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="application/json"):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def problem(self, status, title, detail):
        self.answer(status, {"type": "about:blank", "title": title, "status": status,
                             "detail": detail}, "application/problem+json")

    def do_GET(self):
        if self.path == "/_state":
            with LOCK:
                self.answer(200, {k: STATE[k] for k in ("calls", "registrations", "bodies",
                                                        "contract_violations")})
        else:
            self.problem(404, "Not Found", self.path)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if self.path == "/_control":
            with LOCK:
                STATE.update(json.loads(raw))
            return self.answer(200, {})
        if self.path != "/registrations":
            return self.problem(404, "Not Found", self.path)
        with LOCK:
            STATE["calls"] += 1
        if TOKEN is not None and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.problem(401, "Unauthorized", "missing or wrong bearer token")
        key = self.headers.get("Idempotency-Key")
        try:
            body = json.loads(raw)
        except ValueError:
            return self.problem(400, "Bad Request", "not JSON")
        broken = violations("RegistrationRequest", body)
        if broken:
            return self.problem(400, "Bad Request", "; ".join(broken))
        missing = [k for k in REQUIRED if k not in body]
        if not key or missing or body.get("idempotency_key") != key:
            return self.problem(400, "Bad Request", f"missing {missing} or key mismatch")
        if ("instance_id" in body) == ("booking_id" in body):
            return self.problem(400, "Bad Request", "exactly one of instance_id and booking_id")
        for a in body["attachments"]:
            try:
                content = base64.b64decode(a.get("content_base64", ""), validate=True)
            except ValueError:
                return self.problem(400, "Bad Request", f"attachment {a.get('filename')}: "
                                    "content_base64 is not base64")
            if hashlib.sha256(content).hexdigest() != a.get("sha256"):
                return self.problem(422, "Unprocessable Content",
                                    f"attachment {a.get('filename')}: digest mismatch")
        doc = body["document"]
        if ("content" in doc) == ("content_base64" in doc) or "filename" not in doc:
            return self.problem(400, "Bad Request", "document: filename and one content")
        if "content" in doc:
            data = doc["content"].encode()
        else:
            try:
                data = base64.b64decode(doc["content_base64"], validate=True)
            except ValueError:
                return self.problem(400, "Bad Request", "content_base64 is not base64")
        if body["direction"] not in ("in", "out") or (body["direction"] == "out") != (
                "recipient" in body):
            return self.problem(400, "Bad Request", "direction and recipient")
        if hashlib.sha256(data).hexdigest() != doc["sha256"]:
            return self.problem(422, "Unprocessable Content", "document digest mismatch")
        with LOCK:
            STATE["bodies"].append(body)
            known = STATE["registrations"].get(key)
            if known is None:
                if STATE["refuse"]:
                    refuse = True
                else:
                    refuse = False
                    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
                    STATE["last_number"] += 1
                    known = {"number": STATE["last_number"], "year": now.year,
                             "registered_at": now.isoformat()}
                    STATE["registrations"][key] = known
                created = True
            else:
                refuse = False
                created = False
            hold = STATE["hold_secs"]
        if refuse:
            return self.problem(422, "Unprocessable Content",
                                "Classificazione mancante: richiesta rifiutata dal protocollo")
        if hold:
            time.sleep(hold)
        violations("Registered", known)
        self.answer(201 if created else 200, known)


def main():
    global TOKEN, CONTRACT
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--token")
    p.add_argument("--contract", help="the REST contract (OpenAPI YAML) to validate against")
    a = p.parse_args()
    TOKEN = a.token
    if a.contract:
        CONTRACT = load_contract(a.contract)
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    print(f"READY {a.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
