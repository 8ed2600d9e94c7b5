# Orders are placed from a reviewed pull (or merge) request: a plan that orders outside one is
# flagged for the reviewer. It reads the CI context (docs/policy.md).
package main

import rego.v1

warn contains msg if {
	some change in input.plan.changes
	change.action in {"order", "reorder"}
	not input.context.ci.pull_request
	msg := "this plan orders products and was not made for a pull request: make sure it is the reviewed one"
}
