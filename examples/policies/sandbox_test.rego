package main

import rego.v1

ordering := {"changes": [{"address": "pai", "action": "order"}]}

test_orders_in_a_sandbox_account_are_denied if {
	count(deny) == 1 with input as {"plan": ordering, "context": {"account": {"name": "play", "tags": ["sandbox"]}}}
}

test_orders_elsewhere_pass if {
	count(deny) == 0 with input as {"plan": ordering, "context": {"account": {"name": "prod", "tags": ["ml"]}}}
}

test_a_single_plan_has_no_account if {
	count(deny) == 0 with input as {"plan": ordering, "context": {"account": null}}
}
