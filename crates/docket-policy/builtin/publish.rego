# docket's built-in publish policy: what docket.toml decides before a change is
# published.
#
# - Every repository rule ([rules]: paths, sizes, symlinks, secrets) must pass, unless
#   an exception in force covers it. Secrets can never be excepted.
# - Required validation commands and required checks must pass; advisory ones warn.
# - The budgets of [budgets], counting this run, must not be exceeded.
# - With [approvals] required, the change needs approvals of this exact diff by people
#   other than its initiator and requester.
#
# Input: docs/policy/schemas/publish.v1.schema.json
package docket.publish

deny contains "input: the schema is not docket.policy-input/v1" if {
	not input.schema == "docket.policy-input/v1"
}

# ---- Repository rules and exceptions -------------------------------------------------

# Anything but an explicit "pass" fails.
failed_rules contains {"rule": rule, "detail": detail} if {
	some r in input.rules
	not r.outcome == "pass"
	rule := object.get(r, "rule", "(unnamed rule)")
	detail := object.get(r, "detail", "failed")
}

deny contains msg if {
	some f in failed_rules
	f.rule != "secrets"
	not excepted(f.rule)
	msg := sprintf("%s: %s", [f.rule, f.detail])
}

warn contains msg if {
	some f in failed_rules
	f.rule != "secrets"
	some e in input.exceptions
	e.rule == f.rule
	in_force(e)
	msg := sprintf(
		"rule %s failed but passes by exception granted by %s (%s)%s",
		[f.rule, object.get(e, ["approver", "name"], "(unnamed)"), object.get(e, "reason", ""), until(e)],
	)
}

deny contains msg if {
	some f in failed_rules
	f.rule == "secrets"
	not excepted(f.rule)
	msg := sprintf("%s: %s", [f.rule, f.detail])
}

deny contains msg if {
	some f in failed_rules
	f.rule == "secrets"
	excepted(f.rule)
	msg := sprintf("%s: %s (secrets cannot be excepted)", [f.rule, f.detail])
}

excepted(rule) if {
	some e in input.exceptions
	e.rule == rule
	in_force(e)
}

# An exception is in force while it is active (the engine's view) and, when it has an
# expiry, before it (checked again here against the decision time).
in_force(e) if {
	e.active == true
	e.expires_at == null
}

in_force(e) if {
	e.active == true
	is_string(e.expires_at)
	time.parse_rfc3339_ns(input.time) < time.parse_rfc3339_ns(e.expires_at)
}

until(e) := "" if e.expires_at == null

until(e) := sprintf(" until %s", [e.expires_at]) if is_string(e.expires_at)

# ---- Validation and checks -----------------------------------------------------------

validation_failures contains msg if {
	some v in input.validation.results
	not v.outcome == "pass"
	msg := sprintf("validation failed: `%s` %s", [concat(" ", v.argv), why(v)])
}

why(v) := "timed out" if v.timed_out == true

why(v) := sprintf("exited with %v", [v.exit_code]) if {
	not v.timed_out == true
	is_number(v.exit_code)
}

why(v) := "was killed" if {
	not v.timed_out == true
	not is_number(v.exit_code)
}

deny contains msg if {
	input.validation.mode == "required"
	some msg in validation_failures
}

warn contains msg if {
	input.validation.mode == "advisory"
	some msg in validation_failures
}

check_failures contains [c.mode, msg] if {
	some c in input.checks
	not c.outcome == "pass"
	msg := sprintf("%s check failed: %s", [c.check, object.get(c, "detail", "failed")])
}

deny contains msg if {
	some [mode, msg] in check_failures
	mode == "required"
}

warn contains msg if {
	some [mode, msg] in check_failures
	mode == "advisory"
}

# ---- Budgets (usage includes this run) -----------------------------------------------

budgets := [
	{"label": "ticket attempts", "limit": "ticket_attempts", "scope": "ticket", "measure": "attempts"},
	{"label": "ticket agent seconds", "limit": "ticket_agent_seconds", "scope": "ticket", "measure": "agent_seconds"},
	{"label": "attempts today", "limit": "day_attempts", "scope": "day", "measure": "attempts"},
	{"label": "agent seconds today", "limit": "day_agent_seconds", "scope": "day", "measure": "agent_seconds"},
	{"label": "ticket model tokens", "limit": "ticket_model_tokens", "scope": "ticket", "measure": "model_tokens"},
	{"label": "ticket model dollars", "limit": "ticket_model_cost_usd", "scope": "ticket", "measure": "model_cost_usd"},
	{"label": "model tokens today", "limit": "day_model_tokens", "scope": "day", "measure": "model_tokens"},
	{"label": "model dollars today", "limit": "day_model_cost_usd", "scope": "day", "measure": "model_cost_usd"},
]

deny contains msg if {
	some b in budgets
	limit := input.config.budgets[b.limit]
	is_number(limit)
	used := input.budget[b.scope][b.measure]
	used > limit
	msg := sprintf("budget: %s %v of %v used, over the limit", [b.label, used, limit])
}

deny contains msg if {
	some b in budgets
	is_number(input.config.budgets[b.limit])
	not is_number(input.budget[b.scope][b.measure])
	msg := sprintf("budget: the input does not say how many %s were used", [b.label])
}

# ---- Approvals -----------------------------------------------------------------------

# Persons (by id) who approved exactly this diff and neither started the run nor
# requested the change; with people configured, only approvers and admins count.
approvers contains a.approver.id if {
	some a in input.approvals
	a.diff_digest == input.diff.digest
	a.approver.id != input.run.initiator.id
	not a.approver.id == input.run.requester.id
	may_approve(a.approver)
}

may_approve(_) if not input.roles_configured == true

may_approve(who) if "approver" in who.roles

may_approve(who) if "admin" in who.roles

approval_required contains msg if {
	input.config.approvals.required == true
	needed := max([object.get(input.config.approvals, "min", 1), 1])
	have := count(approvers)
	have < needed
	msg := sprintf("needs %d approval(s) of this change, has %d", [needed, have])
}
