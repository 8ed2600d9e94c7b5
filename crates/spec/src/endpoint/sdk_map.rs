//! The regions whose AIWorkSpace endpoint is not `aiworkspace.{region}.aliyuncs.com`, as the
//! official SDK resolves them: its client's `_endpoint_map` (`endpoint_rule = "regional"`),
//! from `alibabacloud-aiworkspace20210204` 8.3.5 (PyPI), `alibabacloud_aiworkspace20210204/
//! client.py`, `Client.__init__`. A region in the map is sent where the map says; any other to
//! the regional host. Its `cn-guangzhou` value carries a trailing tab in the SDK, trimmed here.
//! `crates/apply/tests/endpoint_conformance.rs` compares this table, and the resolution of
//! regions outside it, with the installed SDK's.

/// (region, host) pairs, sorted by region.
pub const SDK_ENDPOINT_MAP: &[(&str, &str)] = &[
    ("ap-northeast-2-pop", "aiworkspace.aliyuncs.com"),
    ("ap-southeast-2", "aiworkspace.aliyuncs.com"),
    ("ap-southeast-5", "aiworkspace-vpc.ap-southeast-5.aliyuncs.com"),
    ("cn-beijing-finance-1", "aiworkspace.aliyuncs.com"),
    ("cn-beijing-finance-pop", "aiworkspace.aliyuncs.com"),
    ("cn-beijing-gov-1", "aiworkspace.aliyuncs.com"),
    ("cn-beijing-nu16-b01", "aiworkspace.aliyuncs.com"),
    ("cn-edge-1", "aiworkspace.aliyuncs.com"),
    ("cn-fujian", "aiworkspace.aliyuncs.com"),
    ("cn-guangzhou", "aiworkspace.cn-guangzhou.aliyuncs.com"),
    ("cn-haidian-cm12-c01", "aiworkspace.aliyuncs.com"),
    ("cn-hangzhou-bj-b01", "aiworkspace.aliyuncs.com"),
    ("cn-hangzhou-finance", "aiworkspace.aliyuncs.com"),
    ("cn-hangzhou-internal-prod-1", "aiworkspace.aliyuncs.com"),
    ("cn-hangzhou-internal-test-1", "aiworkspace.aliyuncs.com"),
    ("cn-hangzhou-internal-test-2", "aiworkspace.aliyuncs.com"),
    ("cn-hangzhou-internal-test-3", "aiworkspace.aliyuncs.com"),
    ("cn-hangzhou-test-306", "aiworkspace.aliyuncs.com"),
    ("cn-hongkong-finance-pop", "aiworkspace.aliyuncs.com"),
    ("cn-huhehaote", "aiworkspace.aliyuncs.com"),
    ("cn-huhehaote-nebula-1", "aiworkspace.aliyuncs.com"),
    ("cn-qingdao", "aiworkspace.aliyuncs.com"),
    ("cn-qingdao-nebula", "aiworkspace.aliyuncs.com"),
    ("cn-shanghai-et15-b01", "aiworkspace.aliyuncs.com"),
    ("cn-shanghai-et2-b01", "aiworkspace.aliyuncs.com"),
    ("cn-shanghai-inner", "aiworkspace.aliyuncs.com"),
    ("cn-shanghai-internal-test-1", "aiworkspace.aliyuncs.com"),
    ("cn-shenzhen-finance-1", "aiworkspace.aliyuncs.com"),
    ("cn-shenzhen-inner", "aiworkspace.aliyuncs.com"),
    ("cn-shenzhen-st4-d01", "aiworkspace.aliyuncs.com"),
    ("cn-shenzhen-su18-b01", "aiworkspace.aliyuncs.com"),
    ("cn-wuhan", "aiworkspace.aliyuncs.com"),
    ("cn-yushanfang", "aiworkspace.aliyuncs.com"),
    ("cn-zhangbei", "aiworkspace.aliyuncs.com"),
    ("cn-zhangbei-na61-b01", "aiworkspace.aliyuncs.com"),
    ("cn-zhangjiakou-na62-a01", "aiworkspace.aliyuncs.com"),
    ("cn-zhengzhou-nebula-1", "aiworkspace.aliyuncs.com"),
    ("eu-west-1", "aiworkspace.aliyuncs.com"),
    ("eu-west-1-oxs", "aiworkspace.aliyuncs.com"),
    ("me-east-1", "aiworkspace.aliyuncs.com"),
    ("rus-west-1-pop", "aiworkspace.aliyuncs.com"),
];

/// The host the official SDK sends `region`'s calls to, on the public network.
pub fn sdk_host(region: &str) -> String {
    match SDK_ENDPOINT_MAP.binary_search_by(|(r, _)| (*r).cmp(region)) {
        Ok(i) => SDK_ENDPOINT_MAP[i].1.to_owned(),
        Err(_) => format!("aiworkspace.{region}.aliyuncs.com"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_is_sorted_and_trimmed_and_regions_outside_it_are_regional() {
        assert!(
            SDK_ENDPOINT_MAP.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted, no duplicate"
        );
        assert!(SDK_ENDPOINT_MAP.iter().all(|(_, h)| h.trim() == *h));
        for (region, host) in [
            ("cn-qingdao", "aiworkspace.aliyuncs.com"),
            ("eu-west-1", "aiworkspace.aliyuncs.com"),
            ("ap-southeast-5", "aiworkspace-vpc.ap-southeast-5.aliyuncs.com"),
            ("cn-guangzhou", "aiworkspace.cn-guangzhou.aliyuncs.com"),
            ("cn-hangzhou", "aiworkspace.cn-hangzhou.aliyuncs.com"),
            ("ap-southeast-1", "aiworkspace.ap-southeast-1.aliyuncs.com"),
        ] {
            assert_eq!(sdk_host(region), host, "{region}");
        }
    }
}
