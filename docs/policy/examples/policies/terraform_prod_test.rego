package docket.publish_test

change(paths, exceptions) := {
	"schema": "docket.policy-input/v1",
	"diff": {"paths": paths},
	"exceptions": exceptions,
}

prod := ["terraform/prod/network/main.tf", "README.md"]

carol := {"name": "carol@example.com", "id": "carol", "roles": ["approver"], "known": true}

prod_denials(doc) := {msg |
	some msg in data.docket.publish.deny with input as doc
	startswith(msg, "terraform-prod:")
}

test_a_production_change_is_denied if {
	prod_denials(change(prod, [])) == {
		"terraform-prod: terraform/prod/network/main.tf under terraform/prod/** (production changes need the platform team or an exception)",
	}
}

test_staging_is_not_production if {
	count(prod_denials(change(["terraform/staging/network/main.tf", "terraform/production.md"], []))) == 0
}

test_an_active_exception_lets_it_pass_with_a_warning if {
	exception := {"rule": "terraform-prod", "approver": carol, "reason": "INFRA-7 window", "active": true}
	doc := change(prod, [exception])
	count(prod_denials(doc)) == 0
	some msg in data.docket.publish.warn with input as doc
	msg == "terraform-prod: production change passes by exception granted by carol@example.com (INFRA-7 window)"
}

test_an_expired_exception_does_not if {
	exception := {"rule": "terraform-prod", "approver": carol, "reason": "INFRA-7 window", "active": false}
	count(prod_denials(change(prod, [exception]))) == 1
}
