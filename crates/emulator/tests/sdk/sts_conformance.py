"""Call the emulator's STS AssumeRole with the official STS SDK, then use the keys it issued
with the official AIWorkSpace SDK, and report what happened.

Usage: sts_conformance.py ENDPOINT ACCESS_KEY_ID ACCESS_KEY_SECRET ROLE_ARN UNTRUSTED_ROLE_ARN MISSING_ROLE_ARN

ENDPOINT is host:port (plain HTTP). Every SDK call prints one JSON line, as conformance.py does:
{"name", "ok": true, "body"} or {"name", "ok": false, "status", "code", "message"}. When the STS
SDK (alibabacloud-sts20150401) is not installed it prints one line {"skip": "..."} and exits 0:
the Rust test (../sdk_conformance.rs) says so and passes, as it does for nothing else.
"""

import json
import sys

try:
    from alibabacloud_sts20150401 import models as sts_models
    from alibabacloud_sts20150401.client import Client as StsClient
except ImportError as e:  # only the module's absence is a skip
    print(json.dumps({"skip": f"alibabacloud-sts20150401 is not installed ({e})"}), flush=True)
    sys.exit(0)

from alibabacloud_aiworkspace20210204 import models
from alibabacloud_aiworkspace20210204.client import Client
from alibabacloud_tea_openapi import models as openapi_models

from conformance import call


def config(endpoint, **credentials):
    return openapi_models.Config(endpoint=endpoint, protocol="http", region_id="cn-hangzhou", read_timeout=10000, **credentials)


def assume(client, role_arn, **extra):
    request = sts_models.AssumeRoleRequest(role_arn=role_arn, role_session_name="pai-provision-sdk01", **extra)
    return lambda: client.assume_role(request)


def main():
    endpoint, ak, secret, role_arn, untrusted, missing = sys.argv[1:7]
    sts = StsClient(config(endpoint, access_key_id=ak, access_key_secret=secret))
    answer = {}

    def keep():
        response = assume(sts, role_arn, duration_seconds=900, source_identity="0123abcd4567")()
        answer["credentials"] = response.body.credentials
        return response

    call("assume", keep)
    call("untrusted", assume(sts, untrusted))
    call("missing", assume(sts, missing))
    call("too-long", assume(sts, role_arn, duration_seconds=7200))
    creds = answer.get("credentials")
    if creds is None:
        return
    pai = Client(
        config(
            endpoint,
            access_key_id=creds.access_key_id,
            access_key_secret=creds.access_key_secret,
            security_token=creds.security_token,
        )
    )
    product = models.CreateProductOrdersRequestProducts(
        product_code="PAI_share", charge_type="POSTPAY", order_type="BUY", duration=1, auto_renew=False, instance_properties=[]
    )
    call("order", lambda: pai.create_product_orders(models.CreateProductOrdersRequest(auto_pay=True, products=[product])))
    call("list", lambda: pai.list_products(models.ListProductsRequest(product_codes="PAI_share")))
    # The role session may enter a role that trusts its account: role chaining.
    chained = StsClient(
        config(
            endpoint,
            access_key_id=creds.access_key_id,
            access_key_secret=creds.access_key_secret,
            security_token=creds.security_token,
        )
    )
    call("chained", assume(chained, untrusted))


if __name__ == "__main__":
    main()
