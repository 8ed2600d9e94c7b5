"""The baseline of benches/apply.sh: what a no-op `plan` or `apply` asks the cloud, done the
way a user's script would do it with the official Alibaba Cloud Python SDK.

Usage: sdk_noop.py MANIFEST [--parallel]

It reads the same TOML manifest as `pai-provision`, groups its products by region, and makes one
`ListProducts` call per region (the product codes of that region, `Verbose=true`), exactly the
calls `pai-provision plan` and a no-op `apply` make. Then it decides, as they do, whether
anything is left to order. The regions are asked one after the other, as a plain script would
do; `--parallel` asks them from a thread pool instead, which is what `pai-provision` does.

Credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET and are
handed to the SDK's `Config` explicitly. Endpoints come from the manifest's
`[provider.endpoints]`, then `[provider] endpoint` (with `{region}`), then the public one.

Exit code: 0 when nothing is to be ordered, 2 when something is (like `plan --detailed-exitcode`),
1 on an error. It prints one line per region; it never prints a secret.

The whole process is what is measured: interpreter start, the SDK's imports, reading the
manifest, and the calls. That is the price a user's script pays on every run.
"""

import os
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor

from alibabacloud_aiworkspace20210204 import models
from alibabacloud_aiworkspace20210204.client import Client
from alibabacloud_tea_openapi.models import Config


def regions_of(manifest):
    provider = manifest.get("provider", {})
    by_region = {}
    for product in manifest.get("products", {}).values():
        region = product.get("region", provider.get("region", "cn-hangzhou"))
        codes = by_region.setdefault(region, [])
        if product["code"] not in codes:
            codes.append(product["code"])
    return by_region


def endpoint_of(provider, region):
    url = provider.get("endpoints", {}).get(region) or provider.get("endpoint", "").replace("{region}", region)
    if not url:
        url = f"https://aiworkspace.{region}.aliyuncs.com"
    protocol, _, host = url.partition("://")
    return protocol, host.rstrip("/")


def list_products(provider, region, codes, access_key_id, access_key_secret):
    protocol, host = endpoint_of(provider, region)
    config = Config(
        access_key_id=access_key_id,
        access_key_secret=access_key_secret,
        endpoint=host,
        protocol=protocol,
        region_id=region,
    )
    client = Client(config)
    response = client.list_products(models.ListProductsRequest(product_codes=",".join(codes), verbose=True))
    purchased = {p.product_code for p in response.body.products or [] if p.is_purchased}
    return region, [code for code in codes if code not in purchased]


def main(argv):
    if len(argv) < 2 or argv[1].startswith("-"):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 1
    parallel = "--parallel" in argv[2:]
    with open(argv[1], "rb") as f:
        manifest = tomllib.load(f)
    provider = manifest.get("provider", {})
    access_key_id = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID")
    access_key_secret = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    if not access_key_id or not access_key_secret:
        print("set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET", file=sys.stderr)
        return 1
    jobs = [
        (provider, region, codes, access_key_id, access_key_secret) for region, codes in regions_of(manifest).items()
    ]
    try:
        if parallel:
            with ThreadPoolExecutor(max_workers=len(jobs) or 1) as pool:
                results = list(pool.map(lambda job: list_products(*job), jobs))
        else:
            results = [list_products(*job) for job in jobs]
    except Exception as e:  # the SDK's ClientException / ServerException; message only, never the config
        print(f"error: ListProducts failed: {type(e).__name__}: {getattr(e, 'message', e)}", file=sys.stderr)
        return 1
    to_order = 0
    for region, missing in sorted(results):
        to_order += len(missing)
        print(f"{region}: {'nothing to order' if not missing else 'to order: ' + ', '.join(missing)}")
    return 2 if to_order else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
