# Tests of the decision and the pull request rules. The input fixtures are
# shaped exactly as gatekeeper.BuildInput builds them (input version 1),
# plus the sections later evidence sources will supply (README.md). Every
# rule test runs `with data.release as fixed_release` (settings_test.rego),
# never with the live data.yaml, which data_test.rego checks.
package gatekeeper_test

import data.gatekeeper

head_sha := "ec26c3e57ca3a959ca5aad62de7213c562f8c821"

pull_request := {
	"owner": "acme",
	"repo": "payments",
	"number": 412,
	"title": "Release 2024-06-14",
	"body": "Daily release for #70",
	"author": "dev-alice",
	"state": "open",
	"draft": false,
	"merged": false,
	"head_ref": "staging",
	"head_sha": head_sha,
	"base_ref": "master",
	"base_sha": "9049f1265b7d61be4a8904a9a27120d2064dab3b",
	"labels": ["release"],
	"labeled_at": {"release": "2024-06-13T08:00:00Z"},
	"url": "https://github.com/acme/payments/pull/412",
	"gated": true,
}

stage(name, key) := {"name": name, "key": key, "status": "SUCCESS"}

build := {
	"job": "job/acme/job/payments/job/PR-412",
	"number": 57,
	"url": "https://jenkins.example.com/job/acme/job/payments/job/PR-412/57/",
	"strategy": "",
	"head_sha": head_sha,
	"base_sha": "9049f1265b7d61be4a8904a9a27120d2064dab3b",
	"merge_sha": "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d",
	"phase": "FINALIZED",
	"result": "SUCCESS",
	"building": false,
	"verified": true,
	"verification": "jenkins",
	"disputes": [],
	"stages": [
		stage("Checkout", "clone"),
		stage("Build", "build"),
		stage("Unit Tests", "unit_tests"),
		stage("Trivy Scan", "scan"),
		stage("Push Image", "push"),
		stage("Helm Publish", "chart"),
		stage("Deploy", "deploy"),
		stage("Integration Tests", "deploy"),
	],
	"tests": {"total": 812, "passed": 809, "failed": 0, "skipped": 3, "added": 4},
	"coverage": {"line": 84.2, "branch": null, "source": "coverage"},
	"vulnerabilities": {"critical": 0, "high": 0, "medium": 4, "low": 11, "unknown": 0, "report": "trivy.json"},
	"image_digest": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	"chart": {
		"version": "payments-2-14-3-1a2b3c4",
		"module": "payments",
		"major": "2",
		"minor": "14",
		"release": "3",
		"sha": "1a2b3c4",
		"valid": true,
		"pinned": true,
	},
	"base_chart": null,
	"missing": [],
}

# base_tip is master's tip: the commit the build merged.
base_tip := {"ref": "master", "sha": build.base_sha, "at": "2024-06-14T08:00:00Z", "source": "push"}

baseline := {
	"job": "job/acme/job/payments/job/master",
	"number": 80,
	"head_sha": "9049f1265b7d61be4a8904a9a27120d2064dab3b",
	"coverage": {"line": 84.9, "branch": null, "source": "coverage"},
	"tests": {"total": 808},
}

review(user) := {"user": user, "state": "APPROVED", "commit_id": head_sha, "current": true, "submitted_at": "2024-06-14T09:30:00Z"}

# comment_ids gives each voter's vote comment its own id.
comment_ids := {"lead-bob": 901, "sre-dan": 902, "qa-carol": 903, "vp-erin": 904, "dev-zoe": 905, "dev-alice": 906, "alice": 907, "ops-frank": 908, "rm-gina": 909}

vote(user, choice) := {"user": user, "vote": choice, "reason": "", "refused": "", "comment_id": comment_ids[user], "head_sha": head_sha, "current": true}

# members holds each role team's one member in these tests.
members := {
	"releasegate/module-leads": "lead-bob",
	"releasegate/sre": "sre-dan",
	"releasegate/qa": "qa-carol",
	"releasegate/management": "vp-erin",
	"releasegate/release-managers": "rm-gina",
}

# teams is every membership checked, as the gatekeeper's team source leaves
# them: each reviewer, voter and the author, in every role team.
teams := {team: {user: same(user, member) | some user in ["lead-bob", "sre-dan", "qa-carol", "vp-erin", "rm-gina", "dev-alice"]} |
	some team, member in members
}

same(a, b) := a == b

issue(ref, found) := {"ref": ref, "owner": "acme", "repo": "payments", "number": 77, "from": "body", "zenhub": {"found": found, "pipeline": "Done"}}

# unchecked_issue is a link ZenHub has not been asked about yet.
unchecked_issue(ref) := {"ref": ref, "owner": "acme", "repo": "payments", "number": 70, "from": "body", "zenhub": null}

# today is what BuildInput supplies before the Jenkins, team, vote, ZenHub
# and checklist evidence arrives, at 15:30 IST on a Friday: before the
# release window.
today := {
	"version": 1,
	"now": "2024-06-14T10:00:00Z",
	"now_ns": 1718359200000000000,
	"pull_request": pull_request,
	"reviews": [review("lead-bob")],
	"checks": [{"name": "sonarqube", "kind": "check_run", "state": "success", "description": "Quality gate passed", "url": "https://sonar.example.com/dashboard?id=payments"}],
	"sources": {"github": {"ok": true, "error": "", "attempts": 0, "checked_at": "2024-06-14T09:59:58Z"}},
	"build": null,
	"baseline": null,
	"stale_builds": 0,
	"votes": [],
	"teams": {},
	"checklist": {},
	"links": {"issues": [unchecked_issue("acme/payments#70")], "merged_pulls": [], "merged_pulls_known": false},
}

# passing is today's input with every piece of evidence present and good,
# at 17:30 IST on that Friday: inside the release window.
passing := object.union(today, {
	"now": "2024-06-14T12:00:00Z",
	"now_ns": 1718366400000000000,
	"reviews": [review("lead-bob"), review("sre-dan"), review("qa-carol"), review("vp-erin")],
	"build": build,
	"base_tip": base_tip,
	"baseline": baseline,
	"stale_builds": 1,
	"votes": [vote("lead-bob", "go"), vote("qa-carol", "go"), vote("sre-dan", "go")],
	"teams": teams,
	"checklist": {"Release notes": true, "DR plan": true, "Unit tests listed": true, "Tell support": false},
	"links": {
		"issues": [issue("acme/payments#70", true)],
		"merged_pulls": [
			{"number": 398, "title": "Retry card captures", "author": "dev-alice", "head_ref": "77-retry", "links": [issue("acme/payments#77", true)]},
			{"number": 405, "title": "Bump chart", "author": "sre-dan", "head_ref": "bump", "links": [issue("acme/payments#81", true), issue("acme/ops#12", true)]},
		],
		"merged_pulls_known": true,
	},
})

# with_pull returns the passing input with pull request fields replaced.
with_pull(patch) := object.union(passing, {"pull_request": object.union(pull_request, patch)})

# with_section returns the passing input with one top-level section replaced.
# (object.union merges objects deeply, so the section is removed first.)
with_section(key, value) := object.union(object.remove(passing, [key]), {key: value})

# release_with returns the fixed settings (settings_test.rego) with one
# section replaced. Tests replace data.release whole: `with` on a path inside
# it is not seen by a rule that reads data.release itself.
release_with(key, value) := object.union(object.remove(fixed_release, [key]), {key: value})

# later_evidence is what today's input waits for.
later_evidence := [
	"Jenkins PR-merge build of ec26c3e",
	"unit tests and coverage",
	"vulnerability scan",
	"Helm chart version",
	"approvals: module lead, SRE, QA, management (checking lead-bob's team membership)",
	"GO votes: module lead, SRE, QA",
	"ZenHub verification (ZenHub not configured)",
	"merged pull requests of the release",
	"release checklist in the description",
	"release window opens 17:00 IST",
]

# without_votes is a decision without its vote verdicts (and without what
# passes, which passes_test.rego checks), for tests about the rest.
without_votes(d) := object.remove(d, ["votes", "passes"])

# without_passes is a decision without what passes.
without_passes(d) := object.remove(d, ["passes"])

passing_verdicts := [
	{"comment_id": 901, "user": "lead-bob", "verdict": "counted", "why": ""},
	{"comment_id": 902, "user": "sre-dan", "verdict": "counted", "why": ""},
	{"comment_id": 903, "user": "qa-carol", "verdict": "counted", "why": ""},
]

test_success_when_every_section_passes if {
	d := gatekeeper.decision with input as passing with data.release as fixed_release
	without_passes(d) == {"state": "success", "reasons": [], "waiting": [], "channel": "beta", "votes": passing_verdicts}
}

test_stable_channel_needs_stable_coverage if {
	d := gatekeeper.decision with input as with_build({"coverage": {"line": 90}}) with data.release as fixed_release
	d.state == "success"
	d.channel == "stable"
}

test_stable_channel_needs_few_medium_vulnerabilities if {
	d := gatekeeper.decision with input as with_build({"coverage": {"line": 90}, "vulnerabilities": {"medium": 6}}) with data.release as fixed_release
	d.state == "success"
	d.channel == "beta"
}

test_stable_channel_at_the_limits if {
	d := gatekeeper.decision with input as with_build({"coverage": {"line": 85}, "vulnerabilities": {"medium": 5}}) with data.release as fixed_release
	d.channel == "stable"
}

test_channel_thresholds_come_from_data if {
	d := gatekeeper.decision with input as passing
		with data.release as release_with("channel", {"stable": {"min_coverage": 84, "max_medium": 4}})
	d.channel == "stable"
}

test_empty_input_is_pending if {
	d := gatekeeper.decision with input as {} with data.release as fixed_release
	d.state == "pending"
	d.reasons == []
	d.waiting == [
		"pull request details from GitHub",
		"Jenkins PR-merge build",
		"unit tests and coverage",
		"vulnerability scan",
		"Helm chart version",
		"approvals: module lead, SRE, QA, management",
		"GO votes: module lead, SRE, QA",
		"merged pull requests of the release",
		"release checklist in the description",
		"release window (time of evaluation unknown)",
	]
	d.channel == null
	d.votes == []
}

test_today_waits_for_every_later_section if {
	d := gatekeeper.decision with input as today with data.release as fixed_release
	without_passes(d) == {"state": "pending", "reasons": [], "waiting": later_evidence, "channel": null, "votes": []}
}

test_missing_pull_request_waits if {
	d := gatekeeper.decision with input as object.union(passing, {"pull_request": null}) with data.release as fixed_release
	d.state == "pending"
	d.reasons == []
	d.waiting[0] == "pull request details from GitHub"
	"Jenkins PR-merge build" in d.waiting
}

test_closed_fails if {
	d := gatekeeper.decision with input as with_pull({"state": "closed"}) with data.release as fixed_release
	without_votes(d) == {"state": "failure", "reasons": ["pull request is closed"], "waiting": [], "channel": null}
}

test_merged_fails if {
	d := gatekeeper.decision with input as with_pull({"state": "closed", "merged": true}) with data.release as fixed_release
	d.state == "failure"
	d.reasons == ["pull request already merged"]
}

test_unknown_pull_request_state_fails if {
	d := gatekeeper.decision with input as with_section("pull_request", object.remove(pull_request, ["state"])) with data.release as fixed_release
	d.reasons == ["pull request is in no known state"]
}

test_draft_fails if {
	d := gatekeeper.decision with input as with_pull({"draft": true}) with data.release as fixed_release
	d.state == "failure"
	d.reasons == ["pull request is a draft"]
}

test_ungated_pair_fails if {
	d := gatekeeper.decision with input as with_pull({"head_ref": "feature/x", "gated": false}) with data.release as fixed_release
	d.state == "failure"
	d.reasons == ["feature/x into master is not a gated branch pair"]
}

test_missing_gated_flag_fails if {
	d := gatekeeper.decision with input as with_section("pull_request", object.remove(pull_request, ["gated"])) with data.release as fixed_release
	d.reasons == ["staging into master is not a gated branch pair"]
}

test_reasons_are_ordered_by_priority if {
	d := gatekeeper.decision with input as with_pull({"state": "closed", "draft": true, "gated": false}) with data.release as fixed_release
	d.reasons == ["pull request is closed", "pull request is a draft", "staging into master is not a gated branch pair"]
}

test_failure_wins_over_waiting if {
	d := gatekeeper.decision with input as object.union(today, {"pull_request": object.union(pull_request, {"draft": true})}) with data.release as fixed_release
	d.state == "failure"
	d.reasons == ["pull request is a draft"]
	d.waiting == later_evidence
	d.channel == null
}

check(name, state) := {"name": name, "kind": "status", "state": state, "description": "", "url": ""}

test_failing_check_is_named if {
	d := gatekeeper.decision with input as with_section("checks", [check("sonarqube", "success"), check("ci/lint", "failure")]) with data.release as fixed_release
	without_votes(d) == {"state": "failure", "reasons": ["check ci/lint failed"], "waiting": [], "channel": null}
}

test_errored_check_is_named if {
	d := gatekeeper.decision with input as with_section("checks", [check("ci/lint", "error")]) with data.release as fixed_release
	d.reasons == ["check ci/lint errored"]
}

test_pending_check_waits if {
	d := gatekeeper.decision with input as with_section("checks", [check("ci/lint", "pending")]) with data.release as fixed_release
	without_votes(d) == {"state": "pending", "reasons": [], "waiting": ["check ci/lint"], "channel": null}
}

test_unknown_check_state_waits if {
	d := gatekeeper.decision with input as with_section("checks", [check("ci/lint", "neutral")]) with data.release as fixed_release
	d.state == "pending"
	d.waiting == ["check ci/lint (state neutral)"]
}

taken_over(name, state, first, by, by_state) := object.union(check(name, state), {
	"creator": first, "other_creators": [by],
	"takeover": {"creator": by, "state": by_state, "description": "fine", "url": ""},
})

test_check_taken_over_by_another_creator_fails if {
	d := gatekeeper.decision with input as with_section("checks", [taken_over("ci/build", "failure", "ci-bot", "dev-mallory", "success")]) with data.release as fixed_release
	without_votes(d) == {"state": "failure", "reasons": ["check ci/build failed", "check ci/build reported by ci-bot, then set to success by dev-mallory"], "waiting": [], "channel": null}
}

test_check_taken_over_fails_even_when_the_original_passed if {
	d := gatekeeper.decision with input as with_section("checks", [taken_over("ci/build", "success", "ci-bot", "dev-mallory", "success")]) with data.release as fixed_release
	d.state == "failure"
	d.reasons == ["check ci/build reported by ci-bot, then set to success by dev-mallory"]
}

test_check_taken_over_names_unknown_creators if {
	c := json.patch(taken_over("ci/build", "success", "", "", "success"), [{"op": "remove", "path": "/creator"}, {"op": "remove", "path": "/takeover/creator"}])
	d := gatekeeper.decision with input as with_section("checks", [c]) with data.release as fixed_release
	d.reasons == ["check ci/build reported by an unknown creator, then set to success by an unknown creator"]
}

test_check_with_other_creators_but_no_takeover_passes if {
	c := object.union(check("ci/build", "success"), {"creator": "ci-bot", "other_creators": ["dev-mallory"], "takeover": null})
	d := gatekeeper.decision with input as with_section("checks", [c]) with data.release as fixed_release
	d.state == "success"
}

source(ok, err) := {"ok": ok, "error": err, "attempts": 2, "checked_at": "2024-06-14T09:59:58Z"}

test_source_error_waits_and_names_it if {
	d := gatekeeper.decision with input as with_section("sources", {"github": source(true, ""), "jenkins": source(false, "connection refused")}) with data.release as fixed_release
	without_votes(d) == {"state": "pending", "reasons": [], "waiting": ["jenkins evidence unavailable: connection refused"], "channel": null}
}

test_source_error_is_brief if {
	long := "GET https://jenkins.example.com/job/acme/job/payments/job/PR-412/api/json: 503 Service Unavailable"
	d := gatekeeper.decision with input as with_section("sources", {"jenkins": source(false, long)}) with data.release as fixed_release
	d.waiting == ["jenkins evidence unavailable: GET https://jenkins.example.com/job/acme/job/pa…"]
}

test_source_without_error_text_waits if {
	d := gatekeeper.decision with input as with_section("sources", {"zenhub": {"ok": false}}) with data.release as fixed_release
	d.waiting == ["zenhub evidence unavailable"]
}

test_missing_policy_data_fails if {
	d := gatekeeper.decision with input as passing with data.release as {}
	d.state == "failure"
	"policy data release.coverage.min is not a number" in d.reasons
	"policy data release.build.stages is empty" in d.reasons
	"policy data release.approvals.roles is empty" in d.reasons
}

# roles_with returns the fixed settings with the approval roles replaced.
roles_with(roles) := release_with("approvals", object.union(fixed_release.approvals, {"roles": roles}))

test_role_without_team_or_users_fails if {
	roles := array.concat([r | some r in fixed_release.approvals.roles; r.id != "qa"], [{"id": "qa", "display": "QA"}])
	d := gatekeeper.decision with input as passing with data.release as roles_with(roles)
	d.state == "failure"
	d.reasons == ["policy data: role qa has no team or users"]
}

test_role_with_users_only_is_valid if {
	roles := array.concat([r | some r in fixed_release.approvals.roles; r.id != "qa"], [{"id": "qa", "display": "QA", "users": ["qa-carol"]}])
	d := gatekeeper.decision with input as passing with data.release as roles_with(roles)
	d.state == "success"
}

test_role_with_a_malformed_team_fails if {
	roles := array.concat([r | some r in fixed_release.approvals.roles; r.id != "qa"], [{"id": "qa", "display": "QA", "team": "qa"}])
	d := gatekeeper.decision with input as passing with data.release as roles_with(roles)
	d.reasons == ["policy data: role qa team qa is not org/team-slug"]
}

test_role_without_display_fails if {
	roles := array.concat([r | some r in fixed_release.approvals.roles; r.id != "qa"], [{"id": "qa", "team": "releasegate/qa"}])
	d := gatekeeper.decision with input as passing with data.release as roles_with(roles)
	d.reasons == ["policy data: role qa needs an id and a display"]
}

test_too_many_roles_fail if {
	extra := [{"id": sprintf("r%d", [i]), "display": sprintf("R%d", [i]), "users": ["vp-erin"], "required": false} | some i in numbers.range(1, 4)]
	d := gatekeeper.decision with input as passing with data.release as roles_with(array.concat(fixed_release.approvals.roles, extra))
	d.reasons == ["policy data release.approvals.roles has 9 roles (max 8)"]
}

test_unknown_role_id_in_a_list_fails if {
	d := gatekeeper.decision with input as passing
		with data.release as release_with("votes", {"quorum_roles": ["qa", "auditor"], "veto_roles": ["qa"]})
	d.reasons == ["policy data release.votes.quorum_roles: auditor is not a role"]
}

test_empty_quorum_fails if {
	d := gatekeeper.decision with input as passing with data.release as release_with("votes", {"quorum_roles": [], "veto_roles": ["qa"]})
	d.reasons == ["policy data release.votes.quorum_roles is empty"]
}

test_missing_optional_list_fails if {
	d := gatekeeper.decision with input as passing with data.release as release_with("checklist", {"items": ["Release notes"]})
	d.reasons == ["policy data release.checklist.required is not a list"]
}

test_non_boolean_setting_fails if {
	d := gatekeeper.decision with input as passing with data.release as release_with("links", {"verify_in_zenhub": "yes"})
	d.reasons == ["policy data release.links.verify_in_zenhub is not true or false"]
}

test_old_numeric_quorum_is_not_read if {
	d := gatekeeper.decision with input as passing
		with data.release as release_with("votes", {"quorum": 1, "quorum_roles": ["qa"], "veto_roles": ["qa"]})
	d.state == "success"
}

test_missing_threshold_fails if {
	d := gatekeeper.decision with input as passing with data.release as release_with("vulnerabilities", {"max_high": 0})
	d.reasons == ["policy data release.vulnerabilities.max_critical is not a number"]
}
