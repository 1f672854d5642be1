package docket.publish

deny contains {"msg": "conftest: no new IAM users", "details": {"resource": "aws_iam_user.ci"}} if {
	some f in input.diff.files
	f.status == "added"
}

warn contains {"msg": "conftest: review the provider pin"} if true

warn contains {"code": "W042", "text": "no msg field"} if true

warn contains 42 if true
