package main

import rego.v1

review_ordering := {"changes": [{"address": "pai", "action": "order"}]}

test_orders_outside_a_pull_request_warn if {
	count(warn) == 1 with input as {"plan": review_ordering, "context": {"ci": null}}
}

test_orders_of_a_pull_request_pass if {
	count(warn) == 0 with input as {"plan": review_ordering, "context": {"ci": {"system": "github", "pull_request": "42"}}}
}
