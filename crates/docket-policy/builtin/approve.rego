# docket's built-in approve policy: segregation of duties for approvals and exceptions.
# Nobody approves, or grants an exception to, a run they started or a change they
# requested; with people configured only approvers and admins do; an approval must
# come after the run's last change; secrets are never excepted and an exception needs
# a reason.
#
# Input: docs/policy/schemas/approve.v1.schema.json
package docket.approve

deny contains "input: the schema is not docket.policy-input/v1" if {
	not input.schema == "docket.policy-input/v1"
}

deny contains msg if {
	not input.action in {"approval", "exception"}
	msg := sprintf("unknown action %v; expected approval or exception", [object.get(input, "action", null)])
}

what := "approve it" if input.action == "approval"

what := "grant an exception to it" if input.action == "exception"

deny contains "the request names no approver" if {
	not approver_named
}

approver_named if {
	is_string(input.approver.id)
	input.approver.id != ""
}

deny contains msg if {
	input.approver.id == input.run.initiator.id
	msg := sprintf("segregation of duties: %s started this run and cannot %s", [input.approver.name, what])
}

deny contains msg if {
	input.approver.id == input.run.requester.id
	msg := sprintf("segregation of duties: %s requested this change and cannot %s", [input.approver.name, what])
}

deny contains msg if {
	input.roles_configured == true
	not "approver" in input.approver.roles
	not "admin" in input.approver.roles
	msg := sprintf("%s does not have the approver role", [object.get(input.approver, "name", "(unnamed)")])
}

deny contains msg if {
	time.parse_rfc3339_ns(input.time) <= time.parse_rfc3339_ns(input.run.last_change_at)
	msg := sprintf("the approval must come after the run's last change at %s", [input.run.last_change_at])
}

deny contains "the run's last change time is unknown" if {
	not is_string(input.run.last_change_at)
}

deny contains "secrets cannot be excepted" if {
	input.action == "exception"
	input.rule == "secrets"
}

deny contains "an exception must name the rule it excepts" if {
	input.action == "exception"
	not non_empty(input.rule)
}

deny contains "an exception needs a reason" if {
	input.action == "exception"
	not non_empty(input.reason)
}

deny contains msg if {
	input.action == "exception"
	is_string(input.expires_at)
	time.parse_rfc3339_ns(input.expires_at) <= time.parse_rfc3339_ns(input.time)
	msg := sprintf("the exception would expire at %s, before it is granted", [input.expires_at])
}

non_empty(s) if {
	is_string(s)
	trim_space(s) != ""
}
