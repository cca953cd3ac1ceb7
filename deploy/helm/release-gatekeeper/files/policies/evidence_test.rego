# Tests of the evidence rules: build stages, unit tests and coverage, the
# vulnerability scan, and the Helm chart.
package gatekeeper_test

import data.gatekeeper

with_build(patch) := with_section("build", object.union(build, patch))

# with_stage returns the build's stages with the one named name set to status.
with_stage(name, status) := [s |
	some st in build.stages
	s := object.union(st, {"status": stage_status(st.name, name, status)})
]

stage_status(name, name, status) := status

stage_status(name, other, _) := "SUCCESS" if name != other

test_build_of_another_head_waits if {
	d := gatekeeper.decision with input as with_build({"head_sha": "0b1d4a7c9e2f"}) with data.release as fixed_release
	d.state == "pending"
	d.waiting == ["Jenkins PR-merge build of ec26c3e", "unit tests and coverage", "vulnerability scan", "Helm chart version"]
}

test_failed_stage_is_named if {
	d := gatekeeper.decision with input as with_build({"result": "FAILURE", "stages": with_stage("Unit Tests", "FAILED")}) with data.release as fixed_release
	d.state == "failure"
	d.reasons == ["build stage unit tests + coverage failed"]
}

test_failing_stage_is_not_hidden_by_a_passing_one if {
	d := gatekeeper.decision with input as with_build({"result": "UNSTABLE", "stages": with_stage("Integration Tests", "UNSTABLE")}) with data.release as fixed_release
	d.reasons == ["build stage deploy + integration tests unstable"]
}

test_not_executed_stage_fails if {
	d := gatekeeper.decision with input as with_build({"result": "ABORTED", "stages": with_stage("Push Image", "NOT_EXECUTED")}) with data.release as fixed_release
	d.reasons == ["build stage image push not executed"]
}

test_failed_build_without_failed_stage_fails if {
	d := gatekeeper.decision with input as with_build({"result": "FAILURE"}) with data.release as fixed_release
	d.reasons == ["Jenkins PR-merge build of ec26c3e failed"]
}

test_missing_stage_fails if {
	d := gatekeeper.decision with input as with_build({"stages": array.slice(build.stages, 0, 6)}) with data.release as fixed_release
	d.reasons == ["build stage deploy + integration tests did not run"]
}

test_missing_stage_report_fails if {
	d := gatekeeper.decision with input as with_build({"stages": [], "missing": ["stages"]}) with data.release as fixed_release
	d.reasons == ["no stage report for Jenkins build #57"]
}

test_stage_report_not_fetched_yet_waits if {
	d := gatekeeper.decision with input as with_build({"stages": []}) with data.release as fixed_release
	without_votes(d) == {"state": "pending", "reasons": [], "waiting": ["stage report of Jenkins build #57"], "channel": null}
}

test_running_build_waits_for_its_stages if {
	running := array.concat(array.slice(build.stages, 0, 2), [{"name": "Unit Tests", "key": "unit_tests", "status": "IN_PROGRESS"}])
	d := gatekeeper.decision with input as with_build({"result": "", "building": true, "stages": running}) with data.release as fixed_release
	d.state == "pending"
	d.reasons == []
	{w | some w in d.waiting} == {
		"build stage unit tests + coverage",
		"build stage vulnerability scan",
		"build stage image push",
		"build stage Helm chart publish",
		"build stage deploy + integration tests",
	}
}

test_build_finishing_waits if {
	d := gatekeeper.decision with input as with_build({"result": "", "building": true}) with data.release as fixed_release
	without_votes(d) == {"state": "pending", "reasons": [], "waiting": ["Jenkins PR-merge build of ec26c3e to finish"], "channel": null}
}

# Jenkins' confirmation of the result: a pipeline report alone is the
# pipeline's own word.

# trusting returns the fixed settings with build.trust_pipeline_report set.
trusting(value) := release_with("build", object.union(fixed_release.build, {"trust_pipeline_report": value}))

test_unverified_build_waits_for_jenkins if {
	d := gatekeeper.decision with input as with_build({"verified": false}) with data.release as fixed_release
	without_votes(d) == {"state": "pending", "reasons": [], "waiting": ["Jenkins to confirm build #57"], "channel": null}
}

test_build_without_verified_waits_for_jenkins if {
	d := gatekeeper.decision with input as with_section("build", object.remove(build, ["verified"])) with data.release as fixed_release
	d.state == "pending"
	d.waiting == ["Jenkins to confirm build #57"]
}

test_verified_build_passes if {
	d := gatekeeper.decision with input as with_build({"verified": true}) with data.release as fixed_release
	d.state == "success"
	d.waiting == []
}

test_trusted_pipeline_report_passes if {
	d := gatekeeper.decision with input as with_build({"verified": false, "verification": "none"}) with data.release as trusting(true)
	d.state == "success"
	d.waiting == []
}

test_no_jenkins_api_says_the_build_is_unverified if {
	d := gatekeeper.decision with input as with_build({"verified": false, "verification": "none"}) with data.release as fixed_release
	without_votes(d) == {"state": "pending", "reasons": [], "waiting": ["Jenkins build #57 unverified (no JENKINS_URL)"], "channel": null}
}

# With the Jenkins API the claims never count, whatever the switch says.
test_trust_does_not_apply_over_the_jenkins_api if {
	d := gatekeeper.decision with input as with_build({"verified": false, "verification": "pending"}) with data.release as trusting(true)
	d.state == "pending"
	d.waiting == ["Jenkins to confirm build #57"]
}

test_trust_needs_verification_none if {
	d := gatekeeper.decision with input as with_section("build", object.remove(build, ["verified", "verification"])) with data.release as trusting(true)
	d.waiting == ["Jenkins to confirm build #57"]
}

# Claims Jenkins contradicted are ignored: the facts are Jenkins' own.
test_disputed_claims_do_not_change_a_verified_build if {
	disputed := with_build({"verified": true, "verification": "jenkins", "disputes": ["jenkins.completed jenkins:job/x#57:COMPLETED@q9: result SUCCESS, Jenkins says FAILURE"]})
	d := gatekeeper.decision with input as disputed with data.release as fixed_release
	d.state == "success"
}

test_trust_switched_off_waits if {
	d := gatekeeper.decision with input as with_build({"verified": false}) with data.release as trusting(false)
	d.waiting == ["Jenkins to confirm build #57"]
}

test_trust_switch_not_a_boolean_fails_and_trusts_nothing if {
	d := gatekeeper.decision with input as with_build({"verified": false}) with data.release as trusting("true")
	d.state == "failure"
	d.reasons == ["policy data release.build.trust_pipeline_report is not true or false"]
	d.waiting == ["Jenkins to confirm build #57"]
}

test_unverified_failure_fails_at_once if {
	d := gatekeeper.decision with input as with_build({"verified": false, "result": "FAILURE"}) with data.release as fixed_release
	d.state == "failure"
	d.reasons == ["Jenkins PR-merge build of ec26c3e failed"]
	d.waiting == ["Jenkins to confirm build #57"]
}

test_running_build_waits_to_finish_not_for_confirmation if {
	d := gatekeeper.decision with input as with_build({"result": "", "building": true, "verified": false}) with data.release as fixed_release
	d.waiting == ["Jenkins PR-merge build of ec26c3e to finish"]
}

test_failing_unit_tests_fail if {
	d := gatekeeper.decision with input as with_build({"tests": {"total": 812, "passed": 809, "failed": 3, "skipped": 0}}) with data.release as fixed_release
	d.reasons == ["3 unit tests failing"]
}

test_no_unit_tests_fail if {
	d := gatekeeper.decision with input as with_build({"tests": {"total": 0, "passed": 0, "failed": 0, "skipped": 0}}) with data.release as fixed_release
	d.reasons == ["no unit tests ran"]
}

test_missing_test_report_fails if {
	d := gatekeeper.decision with input as with_section("build", object.union(object.remove(build, ["tests"]), {"tests": null, "missing": ["tests"]})) with data.release as fixed_release
	d.reasons == ["no unit test report for Jenkins build #57"]
}

test_tests_not_fetched_yet_wait if {
	d := gatekeeper.decision with input as with_section("build", object.union(object.remove(build, ["tests"]), {"tests": null})) with data.release as fixed_release
	without_votes(d) == {"state": "pending", "reasons": [], "waiting": ["unit tests and coverage"], "channel": null}
}

test_coverage_below_minimum_fails if {
	d := gatekeeper.decision with input as with_build({"coverage": {"line": 78.46}}) with input.baseline.coverage.line as 78.9 with data.release as fixed_release
	d.reasons == ["coverage 78.5% below 80%"]
}

test_coverage_drop_fails if {
	d := gatekeeper.decision with input as with_build({"coverage": {"line": 82}}) with input.baseline.coverage.line as 83.5 with data.release as fixed_release
	d.reasons == ["coverage dropped 1.5 points vs master (max 1)"]
}

test_coverage_drop_at_the_limit_passes if {
	d := gatekeeper.decision with input as with_build({"coverage": {"line": 82}}) with input.baseline.coverage.line as 83 with data.release as fixed_release
	d.state == "success"
}

test_missing_coverage_report_fails if {
	d := gatekeeper.decision with input as with_section("build", object.union(object.remove(build, ["coverage"]), {"coverage": null, "missing": ["coverage"]})) with data.release as fixed_release
	d.reasons == ["no coverage report for Jenkins build #57"]
}

# Master's last successful build without a coverage report leaves nothing
# to compare the coverage with, and no report will come for that build.
test_baseline_without_coverage_report_fails if {
	d := gatekeeper.decision with input as with_section("baseline", object.union(object.remove(baseline, ["coverage"]), {"coverage": null, "missing": ["coverage"]})) with data.release as fixed_release
	without_votes(d) == {"state": "failure", "reasons": ["no coverage report for master's Jenkins build #80 to compare coverage with"], "waiting": [], "channel": null}
}

test_baseline_coverage_not_read_yet_waits if {
	d := gatekeeper.decision with input as with_section("baseline", object.union(object.remove(baseline, ["coverage"]), {"coverage": null, "missing": []})) with data.release as fixed_release
	without_votes(d) == {"state": "pending", "reasons": [], "waiting": ["coverage of the base branch"], "channel": null}
}

test_coverage_without_baseline_waits if {
	d := gatekeeper.decision with input as with_section("baseline", null) with data.release as fixed_release
	without_votes(d) == {"state": "pending", "reasons": [], "waiting": ["coverage of the base branch"], "channel": null}
}

test_critical_vulnerability_fails if {
	d := gatekeeper.decision with input as with_build({"vulnerabilities": {"critical": 1, "high": 2}}) with data.release as fixed_release
	d.reasons == ["1 critical vulnerabilities (max 0)", "2 high vulnerabilities (max 0)"]
}

test_vulnerability_threshold_comes_from_data if {
	d := gatekeeper.decision with input as with_build({"vulnerabilities": {"critical": 0, "high": 2}})
		with data.release as release_with("vulnerabilities", {"max_critical": 0, "max_high": 2})
	d.state == "success"
}

# suppressed_scan: no open critical or high finding, but one critical and
# two high findings the report marks suppressed, and 3 suppressed medium.
suppressed_scan := {"vulnerabilities": {"critical": 0, "high": 0, "medium": 4, "suppressed": {"critical": 1, "high": 2, "medium": 3, "low": 0, "unknown": 0}}}

test_suppressed_findings_count_by_default if {
	d := gatekeeper.decision with input as with_build(suppressed_scan) with data.release as fixed_release
	d.reasons == ["1 critical vulnerabilities (max 0, 1 suppressed)", "2 high vulnerabilities (max 0, 2 suppressed)"]
}

test_suppressed_findings_count_when_the_switch_is_absent if {
	d := gatekeeper.decision with input as with_build(suppressed_scan)
		with data.release as release_with("vulnerabilities", {"max_critical": 0, "max_high": 0})
	d.state == "failure"
}

test_suppressed_findings_do_not_count_when_switched_off if {
	d := gatekeeper.decision with input as with_build(suppressed_scan)
		with data.release as release_with("vulnerabilities", {"max_critical": 0, "max_high": 0, "count_suppressed": false})
	d.state == "success"
	d.channel == "beta" # stable needs coverage 85; medium counts 4 either way here
}

test_suppressed_medium_findings_count_for_the_channel if {
	# 4 open + 3 suppressed medium: 7 > 5, beta; without them, 4 <= 5.
	high_coverage := {"coverage": {"line": 90, "branch": null, "source": "coverage"}}
	no_crit := {"vulnerabilities": {"critical": 0, "high": 0, "medium": 4, "suppressed": {"critical": 0, "high": 0, "medium": 3, "low": 0, "unknown": 0}}}
	counted := gatekeeper.decision with input as with_build(object.union(high_coverage, no_crit)) with data.release as fixed_release
	counted.channel == "beta"
	ignored := gatekeeper.decision with input as with_build(object.union(high_coverage, no_crit))
		with data.release as release_with("vulnerabilities", {"max_critical": 0, "max_high": 0, "count_suppressed": false})
	ignored.channel == "stable"
}

test_count_suppressed_not_a_boolean_fails if {
	d := gatekeeper.decision with input as passing
		with data.release as release_with("vulnerabilities", {"max_critical": 0, "max_high": 0, "count_suppressed": "yes"})
	"policy data release.vulnerabilities.count_suppressed is not true or false" in d.reasons
}

# A finished build Jenkins says archived no scan report will not bring one:
# it fails, rather than waiting for ever.
test_missing_scan_report_fails if {
	d := gatekeeper.decision with input as with_section("build", object.union(object.remove(build, ["vulnerabilities"]), {"vulnerabilities": null, "missing": ["vulnerabilities"]})) with data.release as fixed_release
	without_votes(d) == {"state": "failure", "reasons": ["no vulnerability scan report for Jenkins build #57"], "waiting": [], "channel": null}
}

test_missing_scan_waits if {
	d := gatekeeper.decision with input as with_section("build", object.union(object.remove(build, ["vulnerabilities"]), {"vulnerabilities": null})) with data.release as fixed_release
	d.waiting == ["vulnerability scan"]
}

test_malformed_helm_version_fails if {
	d := gatekeeper.decision with input as with_section("build", object.union(object.remove(build, ["chart"]), {"chart": {"version": "payments-2.14.3", "valid": false, "pinned": false}})) with data.release as fixed_release
	d.reasons == ["Helm chart version payments-2.14.3 malformed"]
}

test_helm_version_of_another_commit_fails if {
	d := gatekeeper.decision with input as with_build({"chart": {"version": "payments-2-14-3-fffffff", "sha": "fffffff", "pinned": false}}) with data.release as fixed_release
	d.reasons == ["Helm chart payments-2-14-3-fffffff is not for commit ec26c3e"]
}

test_missing_helm_version_waits if {
	d := gatekeeper.decision with input as with_section("build", object.union(object.remove(build, ["chart"]), {"chart": null})) with data.release as fixed_release
	d.waiting == ["Helm chart version"]
}

# The PR-merge build must have merged the base branch's current tip.

test_build_of_todays_base_passes if {
	d := gatekeeper.decision with input as passing with data.release as fixed_release
	d.state == "success"
}

test_build_of_an_older_base_waits_for_todays if {
	moved := with_section("base_tip", object.union(base_tip, {"sha": "5b9e1c0aa1b2c3d4e5f60718293a4b5c6d7e8f90"}))
	d := gatekeeper.decision with input as moved with data.release as fixed_release
	d.state == "pending"
	d.waiting[0] == "a PR-merge build on master 5b9e1c0"
}

test_failing_build_of_an_older_base_is_not_reported if {
	moved := object.union(with_build({"result": "FAILURE"}), {"base_tip": object.union(base_tip, {"sha": "5b9e1c0aa1b2c3d4e5f60718293a4b5c6d7e8f90"})})
	d := gatekeeper.decision with input as moved with data.release as fixed_release
	d.state == "pending"
	not "Jenkins PR-merge build of ec26c3e failed" in d.reasons
}

test_unknown_base_tip_waits if {
	d := gatekeeper.decision with input as with_section("base_tip", null) with data.release as fixed_release
	d.state == "pending"
	d.waiting[0] == "the tip of master"
}

test_base_tip_of_another_branch_waits if {
	d := gatekeeper.decision with input as with_section("base_tip", object.union(base_tip, {"ref": "develop"})) with data.release as fixed_release
	d.state == "pending"
	d.waiting[0] == "the tip of master"
}

test_build_without_base_sha_waits if {
	d := gatekeeper.decision with input as with_build({"base_sha": ""}) with data.release as fixed_release
	d.state == "pending"
	d.waiting[0] == "a PR-merge build on master 9049f12"
}
