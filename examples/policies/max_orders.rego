# At most `max_new_orders` products ordered by one run: a bigger change is split into several
# pull requests, each reviewed. Past half of it, a warning.
package main

import rego.v1

max_new_orders := 5

ordered contains change.address if {
	some change in input.plan.changes
	change.action in {"order", "reorder"}
}

deny contains msg if {
	count(ordered) > max_new_orders
	msg := sprintf("%d products ordered in one run, more than %d: split the change", [count(ordered), max_new_orders])
}

warn contains msg if {
	count(ordered) > max_new_orders / 2
	count(ordered) <= max_new_orders
	msg := sprintf("%d products ordered in one run (at most %d)", [count(ordered), max_new_orders])
}
