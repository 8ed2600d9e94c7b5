"""Call the emulator with the official Alibaba Cloud Python SDK and report what happened.

Usage: conformance.py SCENARIO ENDPOINT ALGORITHM [ACCESS_KEY_ID ACCESS_KEY_SECRET]

ENDPOINT is host:port (plain HTTP); ALGORITHM is `v3` (the SDK's default, ACS3-HMAC-SHA256)
or `v2` (`signature_algorithm='v2'`, ROA HMAC-SHA1). Every SDK call prints one JSON line:
{"name", "ok": true, "body"} or {"name", "ok": false, "status", "code", "message", "retry_after"}.
The Rust tests in ../sdk_conformance.rs start the emulator, run this, and judge the lines.
Nothing here decides pass or fail: the SDK's own behaviour is the thing under test.
"""

import base64
import json
import sys
import tempfile
import time

from alibabacloud_aiworkspace20210204 import models
from alibabacloud_aiworkspace20210204.client import Client
from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_credentials.provider import OIDCRoleArnCredentialsProvider
from alibabacloud_tea_openapi import models as openapi_models
from alibabacloud_tea_openapi import utils as openapi_utils


def config(endpoint, algorithm, **credentials):
    cfg = openapi_models.Config(endpoint=endpoint, protocol="http", region_id="cn-hangzhou", read_timeout=10000, **credentials)
    if algorithm == "v2":
        cfg.signature_algorithm = "v2"
    elif algorithm != "v3":
        raise SystemExit(f"unknown algorithm {algorithm!r}")
    return cfg


def call(name, fn):
    try:
        body = fn().body.to_map()
        print(json.dumps({"name": name, "ok": True, "body": body}, ensure_ascii=False), flush=True)
    except Exception as e:  # the SDK's ClientException / ServerException / ThrottlingException
        print(
            json.dumps(
                {
                    "name": name,
                    "ok": False,
                    "status": getattr(e, "status_code", None),
                    "code": getattr(e, "code", None),
                    "message": str(getattr(e, "message", e)),
                    "retry_after": getattr(e, "retry_after", None),
                    "type": type(e).__name__,
                },
                ensure_ascii=False,
            ),
            flush=True,
        )


def product(code, pricing=None, properties=(), **overrides):
    fields = dict(product_code=code, charge_type="POSTPAY", order_type="BUY", duration=1, auto_renew=False)
    if pricing:
        fields["pricing_cycle"] = pricing
    fields.update(overrides)
    props = [models.CreateProductOrdersRequestProductsInstanceProperties(code=c, name=n, value=v) for c, n, v in properties]
    return models.CreateProductOrdersRequestProducts(instance_properties=props, **fields)


def order(client, *products, auto_pay=True):
    return lambda: client.create_product_orders(models.CreateProductOrdersRequest(auto_pay=auto_pay, products=list(products)))


def listing(client, codes="PAI_share,OSS_share", verbose=True):
    return lambda: client.list_products(models.ListProductsRequest(product_codes=codes, verbose=verbose))


OSS_PROPS = [("commodity_type", "对象存储OSS", "oss"), ("ord_time", "1 Hour", "1:Hour")]


def scenario_ok(client):
    call("list-before", listing(client))
    call("order", order(client, product("PAI_share"), product("OSS_share", "Hour", OSS_PROPS)))
    call("list-after", listing(client))


def scenario_invalid(client):
    call("prepay", order(client, product("PAI_share", charge_type="PREPAY")))
    call("renew", order(client, product("PAI_share", order_type="RENEW")))
    call("duration-2", order(client, product("PAI_share", duration=2)))
    call("pai-with-cycle", order(client, product("PAI_share", "Hour")))
    call("dataworks-hourly", order(client, product("DataWorks_share", "Hour", [("region", None, "cn-shanghai")])))
    call("oss-wrong-commodity", order(client, product("OSS_share", "Hour", [("commodity_type", None, "s3")])))
    call("unknown-product", order(client, product("ECS_share")))
    call("no-products", lambda: client.create_product_orders(models.CreateProductOrdersRequest(auto_pay=True)))
    call("unknown-list-code", listing(client, codes="PAI"))


def scenario_rejected(client):
    call("list", listing(client))
    call("order", order(client, product("PAI_share")))


def scenario_replay(client):
    # Pin the nonce the SDK signs with: the second call is a replay of the first.
    nonce = f"conformance-fixed-nonce-{time.time_ns()}"
    openapi_utils.Utils.get_nonce = staticmethod(lambda: nonce)
    call("first", listing(client))
    call("replayed", listing(client))


def scenario_duplicate(client):
    call("first", order(client, product("PAI_share")))
    call("second", order(client, product("PAI_share")))


def jwt(claims):
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
    return enc({"alg": "RS256", "typ": "JWT"}) + "." + enc(claims) + ".c2lnbmF0dXJl"


def oidc_client(endpoint, algorithm, role_arn):
    now = int(time.time())
    token = jwt({"iss": "https://oidc.ci.example", "sub": "repo:acme/infra:ref:refs/heads/main", "aud": "sts.aliyuncs.com", "iat": now, "exp": now + 600})
    with tempfile.NamedTemporaryFile("w", suffix=".jwt", delete=False) as f:
        f.write(token)
    provider = OIDCRoleArnCredentialsProvider(
        role_arn=role_arn,
        oidc_provider_arn="acs:ram::1234567890123456:oidc-provider/ci",
        oidc_token_file_path=f.name,
        role_session_name="conformance",
        # The library puts `http://` hosts in the URL as given; the real STS is HTTPS.
        sts_endpoint="http://" + endpoint,
    )
    return Client(config(endpoint, algorithm, credential=CredentialClient(provider=provider)))


def main():
    scenario, endpoint, algorithm = sys.argv[1:4]
    ak, secret = (sys.argv[4:6] + [None, None])[:2]
    if scenario == "oidc":
        client = oidc_client(endpoint, algorithm, "acs:ram::1234567890123456:role/ci-deployer")
        scenario_ok(client)
        return
    if scenario == "oidc-bad-role":
        client = oidc_client(endpoint, algorithm, "acs:ram::1234567890123456:user/not-a-role")
        call("list", listing(client))
        return
    client = Client(config(endpoint, algorithm, access_key_id=ak, access_key_secret=secret))
    scenarios = {
        "ok": scenario_ok,
        "invalid": scenario_invalid,
        "rejected": scenario_rejected,
        "replay": scenario_replay,
        "duplicate": scenario_duplicate,
    }
    if scenario not in scenarios:
        raise SystemExit(f"unknown scenario {scenario!r}; known: {', '.join(scenarios)}, oidc, oidc-bad-role")
    scenarios[scenario](client)


if __name__ == "__main__":
    main()
