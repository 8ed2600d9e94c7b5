package main

import rego.v1

planned(code) := {"address": code, "action": "order", "after": {"product_code": code}}

test_maxcompute_alone_is_denied if {
	count(deny) == 1 with input as {"plan": {"changes": [planned("MaxCompute_share")]}}
}

test_maxcompute_with_dataworks_passes if {
	count(deny) == 0 with input as {"plan": {"changes": [planned("MaxCompute_share"), planned("DataWorks_share")]}}
}

test_forgotten_maxcompute_is_not_kept if {
	count(deny) == 0 with input as {"plan": {"changes": [{"action": "forget", "after": null}]}}
}
