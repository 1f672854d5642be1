# docket's built-in run policy: who may start an agent on a ticket, and the budgets of
# docket.toml's [budgets] (agent attempts, agent seconds, model tokens and model cost in
# dollars, per ticket and per UTC day).
# At this point the usage is what earlier runs used, so a budget that is used up
# (usage >= limit) stops a new run.
#
# Input: docs/policy/schemas/run.v1.schema.json
package docket.run

deny contains "input: the schema is not docket.policy-input/v1" if {
	not input.schema == "docket.policy-input/v1"
}

# With people configured, only initiators and admins start runs.
deny contains msg if {
	input.roles_configured == true
	not has_role(input.initiator, "initiator")
	not has_role(input.initiator, "admin")
	msg := sprintf("initiator %s does not have the initiator role", [initiator_name])
}

default initiator_name := "(unnamed)"

initiator_name := input.initiator.name

has_role(who, role) if role in who.roles

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
	used >= limit
	msg := sprintf("budget: %s %v of %v used", [b.label, used, limit])
}

# A limit with no usage to compare is not a budget kept.
deny contains msg if {
	some b in budgets
	is_number(input.config.budgets[b.limit])
	not is_number(input.budget[b.scope][b.measure])
	msg := sprintf("budget: the input does not say how many %s were used", [b.label])
}
