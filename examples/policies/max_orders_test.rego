package main

import rego.v1

# Literal counts (max_new_orders is 5): regorus 0.14 evaluates a rule referenced inside a
# `with input as` value wrongly, and these tests run under it as well as under `opa test`.
plan_of(n) := {"changes": [{"address": sprintf("p%d", [i]), "action": "order"} | some i in numbers.range(1, n)]}

test_more_than_the_maximum_is_denied if {
	count(deny) == 1 with input as {"plan": plan_of(6)}
}

test_the_maximum_warns if {
	count(deny) == 0 with input as {"plan": plan_of(5)}
	count(warn) == 1 with input as {"plan": plan_of(5), "context": {"ci": {"pull_request": "1"}}}
}

test_few_orders_pass if {
	count(deny) == 0 with input as {"plan": plan_of(1)}
	count(warn) == 0 with input as {"plan": plan_of(1), "context": {"ci": {"pull_request": "1"}}}
}
