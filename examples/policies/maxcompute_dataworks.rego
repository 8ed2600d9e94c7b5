# MaxCompute is used through DataWorks: an account that has MaxCompute must have DataWorks too
# (ordered, adopted or already active in the same plan; one plan is one account).
package main

import rego.v1

kept(code) if {
	some change in input.plan.changes
	change.after.product_code == code
}

deny contains msg if {
	kept("MaxCompute_share")
	not kept("DataWorks_share")
	msg := "MaxCompute without DataWorks: add a DataWorks_share product to the manifest of this account"
}
