# Every order is paid as it is placed: an order left awaiting payment holds nothing and must be
# paid by hand in the console (docs/policy.md).
package main

import rego.v1

deny contains msg if {
	some order in input.plan.orders
	order.body.AutoPay != true
	msg := sprintf("the order in %s is placed with AutoPay=false; set `auto_pay = true` in the manifest's [provider]", [order.region])
}
