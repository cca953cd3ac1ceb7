# Tests of what passes (passes.rego): every met requirement named with its
# evidence, nothing named that fails, is awaited or does not count yet, and
# the settings of data.release in the sentences.
package gatekeeper_test

import data.gatekeeper

passing_passes := [
	"pull request open, not a draft, staging into master gated",
	"check sonarqube passed",
	"Jenkins PR-merge build #57 of ec26c3e on master 9049f12 succeeded (confirmed by Jenkins)",
	"build stage clone passed on build #57",
	"build stage build + image passed on build #57",
	"build stage unit tests + coverage passed on build #57",
	"build stage vulnerability scan passed on build #57",
	"build stage image push passed on build #57",
	"build stage Helm chart publish passed on build #57",
	"build stage deploy + integration tests passed on build #57",
	"812 unit tests ran, none failing (build #57)",
	"coverage 84.2% ≥ 80%",
	"coverage 84.2% is 0.7 points below master 84.9% (max drop 1)",
	"vulnerability scan: 0 critical (max 0), 0 high (max 0)",
	"Helm chart payments-2-14-3-1a2b3c4 is for commit 1a2b3c4",
	"approved by module lead @lead-bob on the head",
	"approved by SRE @sre-dan on the head",
	"approved by QA @qa-carol on the head",
	"approved by management @vp-erin on the head",
	"no NOGO stands",
	"GO by module lead @lead-bob on the head",
	"GO by SRE @sre-dan on the head",
	"GO by QA @qa-carol on the head",
	"the release links acme/payments#70",
	"every merged pull request links an issue (2 merged)",
	"all 4 linked issues found in ZenHub",
	"checklist ticked: Release notes, DR plan, Unit tests listed",
	"inside the release window (Friday 17:00–19:00 IST)",
]

decision_of(doc) := d if {
	d := gatekeeper.decision with input as doc with data.release as fixed_release
}

passes_of(doc) := decision_of(doc).passes

test_passing_release_names_every_requirement_in_order if {
	passes_of(passing) == passing_passes
}

test_empty_input_passes_nothing if {
	passes_of({}) == []
}

test_today_passes_only_what_is_in if {
	passes_of(today) == [
		"pull request open, not a draft, staging into master gated",
		"check sonarqube passed",
		"no NOGO stands",
		"the release links acme/payments#70",
	]
}

test_what_fails_does_not_pass if {
	p := passes_of(with_build({"result": "FAILURE", "stages": with_stage("Unit Tests", "FAILED"), "tests": {"total": 812, "passed": 800, "failed": 12}}))
	not "build stage unit tests + coverage passed on build #57" in p
	not "812 unit tests ran, none failing (build #57)" in p
	not "Jenkins PR-merge build #57 of ec26c3e on master 9049f12 succeeded (confirmed by Jenkins)" in p
	"build stage clone passed on build #57" in p
	"coverage 84.2% ≥ 80%" in p
}

test_a_draft_and_a_failing_check_do_not_pass if {
	p := passes_of(object.union(with_pull({"draft": true}), {"checks": [check("sonarqube", "failure"), check("ci/lint", "success")]}))
	p[0] == "check ci/lint passed"
	not "check sonarqube passed" in p
}

test_a_check_taken_over_does_not_pass if {
	p := passes_of(with_section("checks", [taken_over("ci/build", "success", "ci-bot", "dev-mallory", "success")]))
	not "check ci/build passed" in p
}

test_an_unconfirmed_build_passes_nothing_of_the_build if {
	d := gatekeeper.decision with input as with_build({"verified": false}) with data.release as fixed_release
	d.waiting == ["Jenkins to confirm build #57"]
	every p in d.passes {
		not contains(p, "build")
		not contains(p, "coverage")
		not contains(p, "vulnerab")
		not contains(p, "Helm")
	}
}

test_trusted_pipeline_report_says_so if {
	trusted := release_with("build", object.union(fixed_release.build, {"trust_pipeline_report": true}))
	d := gatekeeper.decision with input as with_build({"verified": false, "verification": "none"}) with data.release as trusted
	d.state == "success"
	"Jenkins PR-merge build #57 of ec26c3e on master 9049f12 succeeded (pipeline report trusted, no JENKINS_URL)" in d.passes
}

test_a_running_build_passes_no_stage_yet if {
	p := passes_of(with_build({"result": "", "building": true}))
	not "build stage clone passed on build #57" in p
}

test_coverage_above_master_says_so if {
	p := passes_of(with_section("baseline", object.union(baseline, {"coverage": {"line": 80.9, "branch": null, "source": "coverage"}})))
	"coverage 84.2% ≥ master 80.9%" in p
}

test_coverage_below_its_minimum_does_not_pass if {
	p := passes_of(with_build({"coverage": {"line": 79.5, "branch": null, "source": "coverage"}}))
	not "coverage 79.5% ≥ 80%" in p
	every s in p {
		not startswith(s, "coverage")
	}
}

test_settings_edits_show_in_what_passes if {
	d := gatekeeper.decision with input as passing
		with data.release as release_with("coverage", {"min": 82, "max_drop": 2.5})
	"coverage 84.2% ≥ 82%" in d.passes
	"coverage 84.2% is 0.7 points below master 84.9% (max drop 2.5)" in d.passes
}

test_scan_names_the_counted_suppressed_findings if {
	vulns := object.union(build.vulnerabilities, {"high": 1, "suppressed": {"critical": 0, "high": 1, "medium": 0, "low": 0, "unknown": 0}})
	lenient := release_with("vulnerabilities", {"max_critical": 1, "max_high": 2, "count_suppressed": true})
	d := gatekeeper.decision with input as with_build({"vulnerabilities": vulns}) with data.release as lenient
	"vulnerability scan: 0 critical (max 1), 2 high (max 2, 1 suppressed)" in d.passes
}

test_an_approval_by_someone_counted_for_another_role_does_not_pass if {
	# sre-dan holds SRE and QA and is the only approver of both.
	doc := object.union(with_teams({"releasegate/qa": {"sre-dan": true}}), {"reviews": reviews_without("qa-carol")})
	d := gatekeeper.decision with input as doc with data.release as fixed_release
	d.waiting == ["another approver for SRE or QA (sre-dan counts for one role)"]
	not "approved by SRE @sre-dan on the head" in d.passes
	not "approved by QA @sre-dan on the head" in d.passes
	"approved by module lead @lead-bob on the head" in d.passes
}

test_an_approval_of_an_older_commit_does_not_pass if {
	p := passes_of(with_section("reviews", array.concat(reviews_without("qa-carol"), [stale(review("qa-carol"))])))
	not "approved by QA @qa-carol on the head" in p
}

test_a_nogo_fails_and_no_nogo_pass if {
	d := gatekeeper.decision with input as with_section("votes", array.concat(votes_without("qa-carol"), [nogo("qa-carol", "payments broken")]))
		with data.release as fixed_release
	d.state == "failure"
	not "no NOGO stands" in d.passes
	not "GO by QA @qa-carol on the head" in d.passes
}

test_an_issue_not_in_zenhub_does_not_pass if {
	p := passes_of(with_links({"issues": [issue("acme/payments#70", false)]}))
	"the release links acme/payments#70" in p
	every s in p {
		not contains(s, "ZenHub")
	}
}

test_many_links_are_counted if {
	refs := [sprintf("acme/payments#%d", [n]) | some n in numbers.range(70, 76)]
	p := passes_of(with_links({"issues": [issue(ref, true) | some ref in refs]}))
	"the release links acme/payments#70, acme/payments#71, acme/payments#72, acme/payments#73, acme/payments#74 and 2 more" in p
	"all 10 linked issues found in ZenHub" in p
}

test_an_unticked_checklist_item_does_not_pass if {
	p := passes_of(with_section("checklist", {"Release notes": true, "DR plan": false, "Unit tests listed": true}))
	every s in p {
		not startswith(s, "checklist")
	}
}

test_outside_the_window_does_not_pass if {
	p := passes_of(at("2024-06-14T11:29:00Z")) # 16:59 IST
	array.slice(p, count(p) - 1, count(p)) == ["checklist ticked: Release notes, DR plan, Unit tests listed"]
}

test_an_emergency_names_its_approval_and_the_window if {
	d := gatekeeper.decision with input as emergency with data.release as fixed_release
	d.state == "success"
	"emergency approval by release manager @rm-gina after the emergency-release label" in d.passes
	"emergency minor release outside the window, approved after the emergency-release label" in d.passes
}

# Whatever the input, passes are strings and the state never reads them.
test_passes_never_open_the_gate if {
	every doc in [{}, today, with_pull({"draft": true}), with_build({"verified": false})] {
		decision_of(doc).state != "success"
		every p in passes_of(doc) {
			is_string(p)
		}
	}
}

# One person, one role (go_gap): a GO that counts for one of two quorum
# roles only is named for neither, the other GO still is.
test_passes_name_no_go_one_person_one_role_leaves_short if {
	votes := [vote("lead-bob", "go"), object.union(vote("lead-bob", "go"), {"user": "alice", "comment_id": 907})]
	d := gatekeeper.decision with input as with_section("votes", votes) with input.teams as object.union(teams, alice_in_sre_and_qa) with data.release as fixed_release
	"GO by module lead @lead-bob on the head" in d.passes
	every msg in d.passes {
		not startswith(msg, "GO by SRE")
		not startswith(msg, "GO by QA")
	}
}
