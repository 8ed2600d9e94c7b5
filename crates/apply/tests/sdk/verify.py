"""Check requests that pai-provision's client sent against the official Alibaba Cloud SDK.

Input (argv[1]): a JSON file
    {"access_key_id": .., "access_key_secret": ..,
     "requests": [{"name", "method", "path", "query" (raw, as sent), "headers" [[name, value]..],
                   "body_b64", "expect": {"signature": "v3"|"v2", "host", "action",
                   "security_token" (or null), "query" {decoded}, "body_json" (or null)}}]}

For each request it recomputes the signature with the SDK's own signing functions
(alibabacloud_tea_openapi.utils.Utils: get_authorization for ACS3-HMAC-SHA256,
get_string_to_sign + get_roasignature for ROA HMAC-SHA1) over what arrived on the wire, and
compares it byte for byte with the Authorization header. It then has the SDK's own client
(alibabacloud_aiworkspace20210204) send the same call to a capture server on 127.0.0.1 and
compares the header names and the wire query with ours.

Output: one JSON object per request on stdout, {"name", "ok", "problems": [..]}; exit status 0
when every request passed, 1 otherwise. The secret is test-only and is never printed.
"""

import base64
import hashlib
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qsl

from alibabacloud_tea_openapi.utils import Utils

try:  # alibabacloud-tea-openapi >= 0.4 builds requests on darabonba, older ones on Tea.
    from darabonba.request import DaraRequest
except ImportError:  # pragma: no cover
    from Tea.request import TeaRequest as DaraRequest

API_VERSION = "2021-02-04"
# Headers the HTTP library adds on its own; neither side signs them.
TRANSPORT_HEADERS = {"accept-encoding", "content-length", "connection", "transfer-encoding"}


def dara_request(method, path, query, headers):
    req = DaraRequest()
    req.method = method
    req.pathname = path
    req.query = dict(query)
    req.headers = dict(headers)
    return req


def check_common(r, headers, query, body, problems):
    exp = r["expect"]
    if query != exp["query"]:
        problems.append(f"query decodes to {query}, expected {exp['query']}")
    for name, want in [
        ("host", exp["host"]),
        ("x-acs-action", exp["action"]),
        ("x-acs-version", API_VERSION),
        ("accept", "application/json"),
    ]:
        if headers.get(name) != want:
            problems.append(f"header {name} is {headers.get(name)!r}, expected {want!r}")
    if not re.fullmatch(r"[0-9a-f]{32}", headers.get("x-acs-signature-nonce", "")):
        problems.append("x-acs-signature-nonce is not 32 hex digits")
    if exp["body_json"] is not None:
        if headers.get("content-type") != "application/json; charset=utf-8":
            problems.append(f"content-type is {headers.get('content-type')!r}")
        try:
            if json.loads(body.decode("utf-8")) != exp["body_json"]:
                problems.append("the body is not the expected JSON")
        except ValueError as e:
            problems.append(f"the body is not UTF-8 JSON: {e}")
    elif body:
        problems.append("a body was sent where none was expected")
    token = exp["security_token"]
    if token is not None:
        if headers.get("x-acs-security-token") != token:
            problems.append("x-acs-security-token is not the STS token")
        if headers.get("x-acs-accesskey-id") is None:
            problems.append("x-acs-accesskey-id is missing beside the STS token")
    else:
        for name in ("x-acs-security-token", "x-acs-accesskey-id"):
            if name in headers:
                problems.append(f"{name} sent without STS credentials")


def check_v3(r, ak, secret, headers, query, body, problems):
    auth = headers.get("authorization", "")
    m = re.fullmatch(r"ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})", auth)
    if not m:
        problems.append("Authorization is not an ACS3-HMAC-SHA256 value")
        return
    if m.group(1) != ak:
        problems.append("Credential is not the access key id")
    signed = m.group(2).split(";")
    payload = hashlib.sha256(body).hexdigest()
    if headers.get("x-acs-content-sha256") != payload:
        problems.append("x-acs-content-sha256 is not the SHA-256 of the body sent")
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", headers.get("x-acs-date", "")):
        problems.append(f"x-acs-date {headers.get('x-acs-date')!r} is not ISO 8601 UTC")
    # The SDK signs every header it sets: nothing that matters may ride along unsigned.
    must_sign = {n for n in headers if n not in TRANSPORT_HEADERS and n != "authorization"}
    missing = sorted(must_sign - set(signed))
    if missing:
        problems.append(f"headers sent but not signed: {missing}")
    extra = sorted(set(signed) - set(headers))
    if extra:
        problems.append(f"signed headers that were not sent: {extra}")
    req = dara_request(r["method"], r["path"], query, {n: headers[n] for n in signed if n in headers})
    want = Utils.get_authorization(req, "ACS3-HMAC-SHA256", payload, ak, secret)
    if want != auth:
        problems.append("the ACS3-HMAC-SHA256 signature differs from the SDK's")


def check_v2(r, ak, secret, headers, query, body, problems):
    auth = headers.get("authorization", "")
    if not auth.startswith(f"acs {ak}:"):
        problems.append("Authorization is not `acs <access key id>:<signature>`")
    for name, want in [("x-acs-signature-method", "HMAC-SHA1"), ("x-acs-signature-version", "1.0")]:
        if headers.get(name) != want:
            problems.append(f"header {name} is {headers.get(name)!r}, expected {want!r}")
    if not re.fullmatch(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", headers.get("date", "")):
        problems.append(f"date {headers.get('date')!r} is not RFC 1123")
    if "x-acs-content-sha256" in headers:
        problems.append("x-acs-content-sha256 is not part of ROA v1 requests")
    req = dara_request(r["method"], r["path"], query, headers)
    want = f"acs {ak}:{Utils.get_roasignature(Utils.get_string_to_sign(req), secret)}"
    if want != auth:
        problems.append("the ROA HMAC-SHA1 signature differs from the SDK's")


class Capture(BaseHTTPRequestHandler):
    seen = []

    def _handle(self):
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n) if n else b""
        Capture.seen.append((self.command, self.path, [(k.lower(), v) for k, v in self.headers.items()], body))
        out = b'{"RequestId":"sdk-reference","Products":[],"Services":[]}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = _handle
    do_POST = _handle

    def log_message(self, *args):
        pass


def sdk_reference(r, ak, secret, port):
    """Have the official client make the same call; return (header names, raw query, body)."""
    from alibabacloud_aiworkspace20210204 import models
    from alibabacloud_aiworkspace20210204.client import Client
    from alibabacloud_tea_openapi import utils_models
    from darabonba.runtime import RuntimeOptions

    exp = r["expect"]
    config = utils_models.Config(
        access_key_id=ak,
        access_key_secret=secret,
        security_token=exp["security_token"],
        endpoint=f"127.0.0.1:{port}",
        protocol="http",
        signature_algorithm="v2" if exp["signature"] == "v2" else None,
    )
    client = Client(config)
    Capture.seen.clear()
    if exp["action"] == "ListProducts":
        q = exp["query"]
        client.list_products_with_options(
            models.ListProductsRequest(product_codes=q.get("ProductCodes"), service_codes=q.get("ServiceCodes")),
            {},
            RuntimeOptions(),
        )
    else:
        request = models.CreateProductOrdersRequest().from_map(exp["body_json"])
        client.create_product_orders_with_options(request, {}, RuntimeOptions())
    method, target, headers, body = Capture.seen[-1]
    raw_query = target.split("?", 1)[1] if "?" in target else ""
    return {k for k, _ in headers} - TRANSPORT_HEADERS, raw_query, body


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    ak, secret = doc["access_key_id"], doc["access_key_secret"]
    server = HTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    all_ok = True
    for r in doc["requests"]:
        problems = []
        headers = {}
        for name, value in r["headers"]:
            if name.lower() in headers:
                problems.append(f"header {name} sent twice")
            headers[name.lower()] = value
        query = dict(parse_qsl(r["query"], keep_blank_values=True))
        body = base64.b64decode(r["body_b64"])
        check_common(r, headers, query, body, problems)
        if r["expect"]["signature"] == "v3":
            check_v3(r, ak, secret, headers, query, body, problems)
        else:
            check_v2(r, ak, secret, headers, query, body, problems)
        if r.get("compare_with_sdk"):
            names, raw_query, _ = sdk_reference(r, ak, secret, port)
            ours = set(headers) - TRANSPORT_HEADERS
            # Retry headers only appear on retries, which the reference call does not make.
            ours -= {"x-acs-retry-attempts", "x-acs-retry-delay"}
            if ours != names:
                problems.append(f"header names differ from the SDK's: ours only {sorted(ours - names)}, "
                                f"SDK only {sorted(names - ours)}")
            if "Verbose" not in query and raw_query != r["query"]:
                problems.append(f"wire query {r['query']!r} differs from the SDK's {raw_query!r}")
        all_ok = all_ok and not problems
        print(json.dumps({"name": r["name"], "ok": not problems, "problems": problems}, ensure_ascii=False))
    server.shutdown()
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
