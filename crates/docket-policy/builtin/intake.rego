# docket's built-in intake policy: a ticket is taken only when docket.toml's intake
# rules (managed label, ready states, routing, assignees) find it eligible. The engine
# evaluates those rules and passes every reason a ticket is not eligible.
#
# Input: docs/policy/schemas/intake.v1.schema.json
package docket.intake

deny contains "input: the schema is not docket.policy-input/v1" if {
	not input.schema == "docket.policy-input/v1"
}

deny contains msg if {
	some reason in input.eligibility.reasons
	msg := sprintf("intake: %s", [reason])
}

# Not eligible, yet no reason given: still not eligible.
deny contains "intake: the ticket is not eligible" if {
	not input.eligibility.eligible == true
	not has_reasons
}

has_reasons if count(input.eligibility.reasons) > 0
