# Nothing is bought in an account the fleet file tags `sandbox`.
package main

import rego.v1

orders := {"order", "reorder"}

deny contains msg if {
	"sandbox" in input.context.account.tags
	some change in input.plan.changes
	change.action in orders
	msg := sprintf("account %s is tagged sandbox: nothing may be ordered in it (%s)", [input.context.account.name, change.address])
}
