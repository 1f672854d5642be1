# Production Terraform needs the platform team: a change under terraform/prod/ is not
# published unless an exception for the rule "terraform-prod" is in force.
package docket.publish

prod_paths contains path if {
	some path in docket.glob_filter("terraform/prod/**", ["/"], input.diff.paths)
}

prod_exception contains e if {
	some e in input.exceptions
	e.rule == "terraform-prod"
	e.active == true
}

deny contains msg if {
	count(prod_paths) > 0
	count(prod_exception) == 0
	msg := sprintf(
		"terraform-prod: %s under terraform/prod/** (production changes need the platform team or an exception)",
		[concat(", ", sort(prod_paths))],
	)
}

warn contains msg if {
	count(prod_paths) > 0
	some e in prod_exception
	msg := sprintf("terraform-prod: production change passes by exception granted by %s (%s)", [e.approver.name, e.reason])
}
