# The fixed settings every rule test runs with.
#
# A rule test checks what a rule does with given settings, for example that
# a coverage of 78.5% fails against a minimum of 80, so it must not read the
# live data.yaml: a release manager who raises coverage.min to 85 changes
# the policy's behaviour on purpose, and the rule tests must keep passing.
# Every rule test therefore evaluates `with data.release as fixed_release`,
# and a test about one setting changes it in this copy
# (release_with, roles_with, window_with). The real data.yaml is checked
# separately, for form and sense only, by data_test.rego.
#
# fixed_release mirrors the defaults data.yaml shipped with. It leaves out
# build.stages[].jenkins, which the gatekeeper reads when it starts and the
# rules never read. Change it only together with the rule tests that rely on
# its numbers.
package gatekeeper_test

fixed_release := {
	"channel": {"stable": {"min_coverage": 85, "max_medium": 5}},
	"build": {
		"trust_pipeline_report": false,
		"stages": [
			{"key": "clone", "display": "clone"},
			{"key": "build", "display": "build + image"},
			{"key": "unit_tests", "display": "unit tests + coverage"},
			{"key": "scan", "display": "vulnerability scan"},
			{"key": "push", "display": "image push"},
			{"key": "chart", "display": "Helm chart publish"},
			{"key": "deploy", "display": "deploy + integration tests"},
		],
	},
	"coverage": {"min": 80, "max_drop": 1.0},
	"vulnerabilities": {"max_critical": 0, "max_high": 0, "count_suppressed": true},
	"approvals": {
		"roles": [
			{"id": "module_lead", "display": "module lead", "team": "releasegate/module-leads", "users": []},
			{"id": "sre", "display": "SRE", "team": "releasegate/sre", "users": []},
			{"id": "qa", "display": "QA", "team": "releasegate/qa", "users": []},
			{"id": "management", "display": "management", "team": "releasegate/management", "users": []},
			{"id": "release_manager", "display": "release manager", "team": "releasegate/release-managers", "users": [], "required": false},
		],
		"one_person_one_role": true,
	},
	"votes": {"quorum_roles": ["module_lead", "sre", "qa"], "veto_roles": ["qa"]},
	"links": {"verify_in_zenhub": true},
	"checklist": {"required": ["Release notes", "DR plan", "Unit tests listed"]},
	"window": {
		"enforce": true,
		"timezone": "Asia/Kolkata",
		"zone_label": "IST",
		"weekdays": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
		"go_nogo": "16:00",
		"release": "17:00",
		"close": "19:00",
	},
	"emergency": {"label": "emergency-release", "release_kinds": ["minor"], "extra_approval_roles": ["release_manager"]},
}
