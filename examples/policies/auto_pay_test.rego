package main

import rego.v1

test_auto_pay_false_is_denied if {
	count(deny) == 1 with input as {"plan": {"orders": [{"region": "cn-hangzhou", "body": {"AutoPay": false}}]}}
}

test_auto_pay_true_passes if {
	count(deny) == 0 with input as {"plan": {"orders": [{"region": "cn-hangzhou", "body": {"AutoPay": true}}]}}
}
