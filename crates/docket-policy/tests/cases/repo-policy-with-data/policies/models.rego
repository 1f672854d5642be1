package docket.run

deny contains msg if {
	input.agent.model != null
	not input.agent.model in data.models.approved
	msg := sprintf("model %s is not approved", [input.agent.model])
}
