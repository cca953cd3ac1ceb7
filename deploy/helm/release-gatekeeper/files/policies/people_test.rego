# Tests of the people rules: role holders, approvals, one person one role,
# GO/NOGO votes and their verdicts, issue links, the checklist.
package gatekeeper_test

import data.gatekeeper

reviews_without(user) := [r | some r in passing.reviews; r.user != user]

votes_without(user) := [v | some v in passing.votes; v.user != user]

# with_teams returns the passing input with memberships added or changed.
with_teams(patch) := object.union(passing, {"teams": object.union(teams, patch)})

# not_anywhere marks user as checked and not a member of any role team.
not_anywhere(user) := {team: {user: false} | some team, _ in teams}

changes_requested(user) := object.union(review(user), {"state": "CHANGES_REQUESTED"})

stale(r) := object.union(r, {"commit_id": "0b1d4a7c9e2f44d1a4c2b9e8f7a6d5c4b3a2f1e0", "current": false})

nogo(user, reason) := object.union(vote(user, "nogo"), {"reason": reason})

# Role holders ---------------------------------------------------------------

test_a_listed_user_holds_the_role_without_a_team_check if {
	roles := [object.union(r, {"users": ["ops-frank"]}) | some r in fixed_release.approvals.roles; r.id == "sre"]
	others := [r | some r in fixed_release.approvals.roles; r.id != "sre"]
	d := gatekeeper.decision with input as with_section("reviews", array.concat(reviews_without("sre-dan"), [review("ops-frank")]))
		with data.release as roles_with(array.concat(others, roles))
	d.state == "success"
}

test_inactive_membership_does_not_hold_the_role if {
	d := gatekeeper.decision with input as with_teams({"releasegate/qa": {"qa-carol": false}}) with data.release as fixed_release
	d.state == "pending"
	d.waiting == ["approval by QA", "GO vote by QA"]
}

test_unchecked_membership_waits_and_says_so if {
	qa := {user: false | some user, _ in teams["releasegate/qa"]; user != "qa-carol"}
	d := gatekeeper.decision with input as with_section("teams", object.union(object.remove(teams, ["releasegate/qa"]), {"releasegate/qa": qa})) with data.release as fixed_release
	d.waiting == ["approval by QA (checking qa-carol's team membership)", "GO vote by QA (checking qa-carol's team membership)"]
	d.votes == [v | some v in passing_verdicts; v.user != "qa-carol"]
}

# Approvals ------------------------------------------------------------------

test_missing_role_approval_waits if {
	d := gatekeeper.decision with input as with_section("reviews", reviews_without("qa-carol")) with data.release as fixed_release
	without_votes(d) == {"state": "pending", "reasons": [], "waiting": ["approval by QA"], "channel": null}
}

test_missing_role_approvals_are_listed_together if {
	d := gatekeeper.decision with input as with_section("reviews", [review("lead-bob"), review("qa-carol")]) with data.release as fixed_release
	d.waiting == ["approvals: SRE, management"]
}

test_author_approval_does_not_count if {
	d := gatekeeper.decision with input as with_section("reviews", array.concat(reviews_without("sre-dan"), [review("dev-alice")]))
		with input.teams as object.union(teams, {"releasegate/sre": {"sre-dan": true, "dev-alice": true}}) with data.release as fixed_release
	d.waiting == ["approval by SRE (the author's approval does not count)"]
}

test_author_never_approves_even_when_listed if {
	roles := [object.union(r, {"users": ["dev-alice"]}) | some r in fixed_release.approvals.roles]
	d := gatekeeper.decision with input as with_section("reviews", [review("dev-alice")]) with data.release as roles_with(roles)
	d.waiting[0] == "approvals: module lead, SRE, QA, management (the author's approval does not count)"
}

test_approval_of_an_older_commit_waits_and_says_so if {
	d := gatekeeper.decision with input as with_section("reviews", array.concat(reviews_without("vp-erin"), [stale(review("vp-erin"))])) with data.release as fixed_release
	d.waiting == ["approval by management (vp-erin approved an older commit)"]
}

test_dismissed_approval_does_not_count if {
	dismissed := object.union(review("qa-carol"), {"state": "DISMISSED"})
	d := gatekeeper.decision with input as with_section("reviews", array.concat(reviews_without("qa-carol"), [dismissed])) with data.release as fixed_release
	d.waiting == ["approval by QA"]
}

test_changes_requested_blocks if {
	d := gatekeeper.decision with input as with_section("reviews", array.concat(reviews_without("qa-carol"), [changes_requested("qa-carol")])) with data.release as fixed_release
	d.state == "failure"
	d.reasons == ["changes requested by qa-carol (QA)"]
	d.waiting == ["approval by QA"]
}

test_changes_requested_on_an_older_commit_still_blocks if {
	d := gatekeeper.decision with input as with_section("reviews", array.concat(reviews_without("sre-dan"), [stale(changes_requested("sre-dan"))])) with data.release as fixed_release
	d.reasons == ["changes requested by sre-dan (SRE)"]
}

test_changes_requested_names_every_role_held if {
	d := gatekeeper.decision with input as with_section("reviews", array.concat(passing.reviews, [changes_requested("ops-frank")]))
		with input.teams as object.union(teams, {"releasegate/sre": {"sre-dan": true, "ops-frank": true}, "releasegate/qa": {"qa-carol": true, "ops-frank": true}}) with data.release as fixed_release
	d.reasons == ["changes requested by ops-frank (SRE, QA)"]
}

test_changes_requested_by_a_non_holder_does_not_block if {
	d := gatekeeper.decision with input as with_section("reviews", array.concat(passing.reviews, [changes_requested("dev-zoe")]))
		with input.teams as object.union(teams, not_anywhere("dev-zoe")) with data.release as fixed_release
	d.state == "success"
}

test_changes_requested_by_an_unchecked_reviewer_waits if {
	d := gatekeeper.decision with input as with_section("reviews", array.concat(passing.reviews, [changes_requested("dev-zoe")])) with data.release as fixed_release
	d.state == "pending"
	d.waiting == ["checking dev-zoe's team membership (changes requested)"]
}

test_changes_requested_on_an_older_commit_by_an_unchecked_reviewer_waits if {
	d := gatekeeper.decision with input as with_section("reviews", array.concat(passing.reviews, [stale(changes_requested("dev-zoe"))])) with data.release as fixed_release
	d.state == "pending"
	d.waiting == ["checking dev-zoe's team membership (changes requested)"]
}

# One person, one role -------------------------------------------------------

# alice holds SRE and QA besides sre-dan and qa-carol.
alice_in_sre_and_qa := {
	"releasegate/module-leads": {"alice": false},
	"releasegate/sre": {"sre-dan": true, "alice": true},
	"releasegate/qa": {"qa-carol": true, "alice": true},
	"releasegate/management": {"alice": false},
}

test_one_person_counts_for_one_role if {
	reviews := [review("lead-bob"), review("vp-erin"), review("alice")]
	d := gatekeeper.decision with input as with_section("reviews", reviews) with input.teams as object.union(teams, alice_in_sre_and_qa) with data.release as fixed_release
	d.state == "pending"
	d.waiting == ["another approver for SRE or QA (alice counts for one role)"]
}

test_one_person_alone_counts_for_one_role if {
	# The only approved roles are SRE and QA: the whole set falls short.
	d := gatekeeper.decision with input as with_section("reviews", [review("alice")]) with input.teams as object.union(teams, alice_in_sre_and_qa) with data.release as fixed_release
	d.waiting == ["approvals: module lead, management", "another approver for SRE or QA (alice counts for one role)"]
}

test_one_person_may_hold_several_roles_when_data_allows if {
	reviews := [review("lead-bob"), review("vp-erin"), review("alice")]
	approvals := object.union(fixed_release.approvals, {"one_person_one_role": false})
	d := gatekeeper.decision with input as with_section("reviews", reviews) with input.teams as object.union(teams, alice_in_sre_and_qa)
		with data.release as release_with("approvals", approvals)
	d.state == "success"
}

test_distinct_approvers_are_found_when_they_exist if {
	reviews := [review("lead-bob"), review("vp-erin"), review("alice"), review("qa-carol")]
	d := gatekeeper.decision with input as with_section("reviews", reviews) with input.teams as object.union(teams, alice_in_sre_and_qa) with data.release as fixed_release
	d.state == "success"
}

test_shortfall_of_two_approvers_is_counted if {
	three := {
		"releasegate/module-leads": {"lead-bob": true, "alice": true},
		"releasegate/sre": {"sre-dan": true, "alice": true},
		"releasegate/qa": {"qa-carol": true, "alice": true},
	}
	d := gatekeeper.decision with input as with_section("reviews", [review("vp-erin"), review("alice")]) with input.teams as object.union(teams, three) with data.release as fixed_release
	d.waiting == ["2 more approvers for module lead, SRE or QA (alice counts for one role)"]
}

test_shortfall_names_everyone_involved if {
	shared := {
		"releasegate/module-leads": {"lead-bob": true, "alice": true},
		"releasegate/sre": {"sre-dan": true, "alice": true, "lead-bob": true},
		"releasegate/qa": {"qa-carol": true, "alice": true},
	}
	reviews := [review("vp-erin"), review("alice"), review("lead-bob")]
	d := gatekeeper.decision with input as with_section("reviews", reviews) with input.teams as object.union(teams, shared) with data.release as fixed_release
	d.waiting == ["another approver for module lead, SRE or QA (alice, lead-bob count for 2 roles)"]
}

# Votes ------------------------------------------------------------------------

test_nogo_by_a_holder_fails_with_its_reason if {
	d := gatekeeper.decision with input as with_section("votes", array.concat(votes_without("sre-dan"), [nogo("sre-dan", "payments smoke test flaky")])) with data.release as fixed_release
	d.state == "failure"
	d.reasons == ["NOGO by sre-dan (SRE): payments smoke test flaky"]
	d.waiting == ["GO vote by SRE"]
}

test_qa_nogo_is_a_veto if {
	d := gatekeeper.decision with input as with_section("votes", array.concat(votes_without("qa-carol"), [nogo("qa-carol", "regression in refunds")])) with data.release as fixed_release
	d.reasons == ["QA veto by qa-carol: regression in refunds"]
}

test_nogo_by_management_fails_too if {
	d := gatekeeper.decision with input as with_section("votes", array.concat(passing.votes, [nogo("vp-erin", "customer freeze")])) with data.release as fixed_release
	d.reasons == ["NOGO by vp-erin (management): customer freeze"]
}

test_veto_names_the_veto_role_of_a_holder_of_several if {
	d := gatekeeper.decision with input as with_section("votes", array.concat(passing.votes, [nogo("ops-frank", "disk alarms")]))
		with input.teams as object.union(teams, {"releasegate/sre": {"sre-dan": true, "ops-frank": true}, "releasegate/qa": {"qa-carol": true, "ops-frank": true}}) with data.release as fixed_release
	d.reasons == ["QA veto by ops-frank: disk alarms"]
}

test_long_nogo_reason_is_clipped if {
	reason := "the payments smoke test failed twice this morning and nobody knows why yet"
	d := gatekeeper.decision with input as with_section("votes", array.concat(votes_without("sre-dan"), [nogo("sre-dan", reason)])) with data.release as fixed_release
	d.reasons == ["NOGO by sre-dan (SRE): the payments smoke test failed twice this morning and nobod…"]
}

test_nogo_by_a_non_holder_does_not_count if {
	d := gatekeeper.decision with input as with_section("votes", array.concat(passing.votes, [nogo("dev-zoe", "I don't like it")]))
		with input.teams as object.union(teams, not_anywhere("dev-zoe")) with data.release as fixed_release
	d.state == "success"
}

test_nogo_by_an_unchecked_voter_waits if {
	d := gatekeeper.decision with input as with_section("votes", array.concat(passing.votes, [nogo("dev-zoe", "I don't like it")])) with data.release as fixed_release
	d.state == "pending"
	d.waiting == ["NOGO by dev-zoe (checking team membership)"]
}

test_refused_nogo_does_not_count if {
	refused := object.union(vote("qa-carol", "nogo"), {"refused": "a NOGO needs a reason: /nogo <reason> (until then you have no vote)"})
	d := gatekeeper.decision with input as with_section("votes", array.concat(votes_without("qa-carol"), [refused])) with data.release as fixed_release
	d.reasons == []
	d.waiting == ["GO vote by QA"]
}

test_nogo_on_an_older_head_stands if {
	old := object.union(nogo("qa-carol", "old head"), {"current": false, "head_sha": old_head})
	d := gatekeeper.decision with input as object.union(with_section("votes", array.concat(votes_without("qa-carol"), [old])), {"nogos": [standing_nogo("qa-carol", "old head", [])]}) with data.release as fixed_release
	d.reasons == ["QA veto by qa-carol: old head (on 0b1d4a7)"]
	d.waiting == ["GO vote by QA"]
}

test_a_vote_on_an_older_head_without_a_standing_nogo_does_not_count if {
	# The author took the NOGO back (the gatekeeper lists no standing
	# NOGO): the old vote is no vote.
	old := object.union(nogo("qa-carol", "old head"), {"current": false, "head_sha": old_head})
	d := gatekeeper.decision with input as object.union(with_section("votes", array.concat(votes_without("qa-carol"), [old])), {"nogos": []}) with data.release as fixed_release
	d.reasons == []
	d.waiting == ["GO vote by QA"]
}

test_no_votes_wait_for_every_quorum_role if {
	d := gatekeeper.decision with input as with_section("votes", []) with data.release as fixed_release
	d.waiting == ["GO votes: module lead, SRE, QA"]
}

test_go_on_an_older_head_does_not_count if {
	old := object.union(vote("sre-dan", "go"), {"current": false})
	d := gatekeeper.decision with input as with_section("votes", array.concat(votes_without("sre-dan"), [old])) with data.release as fixed_release
	d.waiting == ["GO vote by SRE"]
}

test_go_by_a_non_holder_does_not_count if {
	d := gatekeeper.decision with input as with_section("votes", array.concat(votes_without("lead-bob"), [vote("dev-zoe", "go")]))
		with input.teams as object.union(teams, not_anywhere("dev-zoe")) with data.release as fixed_release
	d.waiting == ["GO vote by module lead"]
}

test_go_by_an_unchecked_voter_waits_and_says_so if {
	d := gatekeeper.decision with input as with_section("votes", array.concat(votes_without("qa-carol"), [vote("dev-zoe", "go")]))
		with input.teams as object.union(teams, {"releasegate/qa": {"qa-carol": true}, "releasegate/sre": {"sre-dan": true, "dev-zoe": false}, "releasegate/module-leads": {"lead-bob": true, "dev-zoe": false}}) with data.release as fixed_release
	d.waiting == ["GO vote by QA (checking dev-zoe's team membership)"]
}

test_quorum_roles_come_from_data if {
	d := gatekeeper.decision with input as with_section("votes", [vote("qa-carol", "go")])
		with data.release as release_with("votes", {"quorum_roles": ["qa"], "veto_roles": ["qa"]})
	d.state == "success"
}

test_one_go_counts_for_one_quorum_role if {
	votes := [vote("lead-bob", "go"), object.union(vote("lead-bob", "go"), {"user": "alice", "comment_id": 907})]
	d := gatekeeper.decision with input as with_section("votes", votes) with input.teams as object.union(teams, alice_in_sre_and_qa) with data.release as fixed_release
	d.waiting == ["another GO vote for SRE or QA (alice counts for one role)"]
}

# Vote verdicts --------------------------------------------------------------

test_vote_verdicts_are_sorted_and_explained if {
	votes := [
		vote("lead-bob", "go"),
		object.union(vote("sre-dan", "go"), {"current": false}),
		object.union(vote("qa-carol", "nogo"), {"refused": "a NOGO needs a reason: /nogo <reason> (until then you have no vote)"}),
		vote("dev-zoe", "go"),
		vote("ops-frank", "go"), # not checked yet: no verdict
	]
	d := gatekeeper.decision with input as with_section("votes", votes) with input.teams as object.union(teams, not_anywhere("dev-zoe")) with data.release as fixed_release
	d.votes == [
		{"comment_id": 901, "user": "lead-bob", "verdict": "counted", "why": ""},
		{"comment_id": 903, "user": "qa-carol", "verdict": "refused", "why": "a NOGO needs a reason: /nogo <reason> (until then you have no vote)"},
		{"comment_id": 905, "user": "dev-zoe", "verdict": "refused", "why": "only module lead, SRE, QA, management and release manager vote"},
	]
}

test_counted_nogo_has_a_counted_verdict if {
	d := gatekeeper.decision with input as with_section("votes", [nogo("vp-erin", "customer freeze")]) with data.release as fixed_release
	d.votes == [{"comment_id": 904, "user": "vp-erin", "verdict": "counted", "why": ""}]
}

test_vote_by_a_listed_user_is_counted if {
	roles := [object.union(r, {"users": ["ops-frank"]}) | some r in fixed_release.approvals.roles; r.id == "qa"]
	others := [r | some r in fixed_release.approvals.roles; r.id != "qa"]
	v := object.union(vote("qa-carol", "go"), {"user": "ops-frank", "comment_id": 908})
	d := gatekeeper.decision with input as with_section("votes", [v]) with data.release as roles_with(array.concat(others, roles))
	d.votes == [{"comment_id": 908, "user": "ops-frank", "verdict": "counted", "why": ""}]
}

test_refusal_names_the_roles_from_data if {
	roles := [r | some r in fixed_release.approvals.roles; r.id in {"sre", "qa"}]
	d := gatekeeper.decision with input as with_section("votes", [vote("dev-zoe", "go")])
		with input.teams as object.union(teams, not_anywhere("dev-zoe"))
		with data.release as object.union(roles_with(roles), {"votes": {"quorum_roles": ["qa"], "veto_roles": ["qa"]}, "emergency": {"label": "emergency-release", "extra_approval_roles": ["sre"]}})
	d.votes == [{"comment_id": 905, "user": "dev-zoe", "verdict": "refused", "why": "only SRE and QA vote"}]
}

# Issue links ----------------------------------------------------------------

merged_pull(number, title, links) := {"number": number, "title": title, "author": "dev-alice", "head_ref": "x", "links": links}

with_links(patch) := with_section("links", object.union(passing.links, patch))

test_release_without_its_own_issue_link_waits if {
	d := gatekeeper.decision with input as with_links({"issues": []}) with data.release as fixed_release
	d.state == "pending"
	d.waiting == ["link the release to its ZenHub issues (#123 or a ZenHub link in the description)"]
}

test_unlinked_merged_pull_fails if {
	d := gatekeeper.decision with input as with_links({"merged_pulls": array.concat(passing.links.merged_pulls, [merged_pull(409, "Hotfix", [])])}) with data.release as fixed_release
	d.reasons == ["#409 Hotfix has no issue link"]
}

test_long_title_of_an_unlinked_pull_is_clipped if {
	title := "Retry card captures when the acquirer times out on the first attempt"
	d := gatekeeper.decision with input as with_links({"merged_pulls": [merged_pull(409, title, [])]}) with data.release as fixed_release
	d.reasons == ["#409 Retry card captures when the acquirer t… has no issue link"]
}

test_merged_pulls_not_known_wait if {
	d := gatekeeper.decision with input as with_links({"merged_pulls": [merged_pull(409, "Hotfix", [])], "merged_pulls_known": false}) with data.release as fixed_release
	d.reasons == []
	d.waiting == ["merged pull requests of the release"]
}

test_merged_issue_unknown_to_zenhub_fails if {
	d := gatekeeper.decision with input as with_links({"merged_pulls": [merged_pull(409, "Hotfix", [issue("acme/payments#99", false)])]}) with data.release as fixed_release
	d.reasons == ["acme/payments#99 (#409) not found in ZenHub"]
}

test_release_issue_unknown_to_zenhub_fails if {
	d := gatekeeper.decision with input as with_links({"issues": [issue("acme/payments#70", false)]}) with data.release as fixed_release
	d.reasons == ["acme/payments#70 not found in ZenHub"]
}

zenhub_source := object.union(passing.sources, {"zenhub": {"ok": true, "error": "", "attempts": 0, "checked_at": "2024-06-14T11:59:00Z"}})

test_issue_not_checked_in_zenhub_yet_waits if {
	d := gatekeeper.decision with input as with_links({"merged_pulls": [merged_pull(409, "Hotfix", [unchecked_issue("acme/payments#99")])]})
		with input.sources as zenhub_source with data.release as fixed_release
	d.waiting == ["ZenHub verification of acme/payments#99"]
}

test_issues_not_checked_in_zenhub_yet_are_counted if {
	d := gatekeeper.decision with input as with_links({
		"issues": [unchecked_issue("acme/payments#70")],
		"merged_pulls": [merged_pull(409, "Hotfix", [unchecked_issue("acme/payments#99")])],
	})
		with input.sources as zenhub_source
		with data.release as fixed_release
	d.waiting == ["ZenHub verification of 2 issues"]
}

test_zenhub_not_configured_waits_and_says_so if {
	d := gatekeeper.decision with input as with_links({"issues": [unchecked_issue("acme/payments#70")]}) with data.release as fixed_release
	d.waiting == ["ZenHub verification (ZenHub not configured)"]
}

test_zenhub_verification_can_be_switched_off if {
	d := gatekeeper.decision with input as with_links({
		"issues": [unchecked_issue("acme/payments#70")],
		"merged_pulls": [merged_pull(409, "Hotfix", [issue("acme/payments#99", false)])],
	})
		with data.release as release_with("links", {"verify_in_zenhub": false})
	d.state == "success"
}

test_links_are_required_without_zenhub_verification if {
	d := gatekeeper.decision with input as with_links({"merged_pulls": [merged_pull(409, "Hotfix", [])]})
		with data.release as release_with("links", {"verify_in_zenhub": false})
	d.reasons == ["#409 Hotfix has no issue link"]
}

# Checklist ------------------------------------------------------------------

test_unticked_checklist_items_wait if {
	d := gatekeeper.decision with input as with_section("checklist", {"Release notes": true, "DR plan": false}) with data.release as fixed_release
	d.waiting == ["checklist: tick DR plan, Unit tests listed"]
}

test_checklist_matches_whatever_the_case if {
	d := gatekeeper.decision with input as with_section("checklist", {"release NOTES": true, " dr plan ": true, "UNIT TESTS LISTED": true}) with data.release as fixed_release
	d.state == "success"
}

test_no_checklist_waits if {
	d := gatekeeper.decision with input as with_section("checklist", {}) with data.release as fixed_release
	d.waiting == ["release checklist in the description"]
}

test_no_required_items_need_no_checklist if {
	d := gatekeeper.decision with input as with_section("checklist", {}) with data.release as release_with("checklist", {"required": []})
	d.state == "success"
}

# Vetoes across pushes -------------------------------------------------------

old_head := "0b1d4a7c9e2f44d1a4c2b9e8f7a6d5c4b3a2f1e0"

# standing_nogo is a NOGO the gatekeeper lists as standing, cast on the
# head before the push.
standing_nogo(user, reason, lifts) := {"user": user, "reason": reason, "comment_id": 950, "head_sha": old_head, "current": false, "lifts": lifts}

lift(user, reason, id) := {"user": user, "target": "qa-carol", "reason": reason, "refused": "", "comment_id": id, "head_sha": head_sha, "current": true}

# lift_release is fixed_release (which has the release manager role,
# not required to approve, as data.yaml does) with the lift roles of
# data.yaml.
lift_release := object.union(fixed_release, {"votes": object.union(fixed_release.votes, {"lift_roles": ["release_manager", "sre"]})})

# lift_teams: qa-frank is a second QA member, rm-grace a release manager,
# dev-zoe holds no role; everybody was checked in every team.
lift_teams := object.union(
	{team: object.union({user: false | some user, _ in ms}, object.union(ms, {"qa-frank": team == "releasegate/qa", "rm-grace": false, "dev-zoe": false})) |
		some team, ms in teams
	},
	{"releasegate/release-managers": {"rm-grace": true, "dev-zoe": false, "qa-frank": false, "qa-carol": false, "lead-bob": false, "sre-dan": false, "vp-erin": false, "dev-alice": false}},
)

frank_go := {"user": "qa-frank", "vote": "go", "reason": "", "refused": "", "comment_id": 955, "head_sha": head_sha, "current": true}

# after_push: qa-carol said NOGO on the old head; after the push qa-frank,
# the other QA member, says GO on the new one.
after_push(lifts) := object.union(
	with_section("votes", array.concat(votes_without("qa-carol"), [
		frank_go,
		object.union(nogo("qa-carol", "refunds broken"), {"comment_id": 950, "current": false, "head_sha": old_head}),
	])),
	{
		"teams": lift_teams,
		"nogos": [standing_nogo("qa-carol", "refunds broken", [{"user": l.user, "reason": l.reason, "comment_id": l.comment_id} | some l in lifts; l.refused == ""])],
		"lifts": lifts,
	},
)

test_a_second_qa_go_does_not_pass_while_a_qa_nogo_stands if {
	d := gatekeeper.decision with input as after_push([]) with data.release as lift_release
	d.state == "failure"
	d.reasons == ["QA veto by qa-carol: refunds broken (on 0b1d4a7)"]
	d.waiting == []
}

test_the_authors_go_on_the_newer_head_clears_the_nogo if {
	# What the gatekeeper sends once qa-carol says /go (or /withdraw):
	# no standing NOGO, her GO on the current head.
	taken_back := object.union(after_push([]), {"nogos": [], "votes": array.concat(votes_without("qa-carol"), [vote("qa-carol", "go")])})
	d := gatekeeper.decision with input as taken_back with data.release as lift_release
	d.state == "success"
}

test_the_authors_withdraw_clears_the_nogo if {
	withdrawn := object.union(after_push([]), {"nogos": [], "votes": array.concat(votes_without("qa-carol"), [frank_go])})
	d := gatekeeper.decision with input as withdrawn with data.release as lift_release
	d.state == "success"
}

test_a_lift_by_a_release_manager_lifts_the_nogo if {
	d := gatekeeper.decision with input as after_push([lift("rm-grace", "refunds fixed in the push, checked with QA", 960)]) with data.release as lift_release
	d.state == "success"
	{"comment_id": 960, "user": "rm-grace", "verdict": "counted", "why": "lifted qa-carol's NOGO"} in d.votes
}

test_a_lift_by_an_sre_lifts_the_nogo if {
	d := gatekeeper.decision with input as after_push([lift("sre-dan", "hotfix verified", 960)]) with data.release as lift_release
	d.state == "success"
}

test_a_lift_by_a_non_holder_is_refused_and_explained if {
	d := gatekeeper.decision with input as after_push([lift("dev-zoe", "I need this out", 961)]) with data.release as lift_release
	d.state == "failure"
	d.reasons == ["QA veto by qa-carol: refunds broken (on 0b1d4a7)"]
	{"comment_id": 961, "user": "dev-zoe", "verdict": "refused", "why": "only release manager or SRE may lift a NOGO"} in d.votes
}

test_a_lift_by_a_module_lead_is_refused if {
	# Holding a release role is not enough: only the lift roles lift.
	d := gatekeeper.decision with input as after_push([lift("lead-bob", "ship it", 962)]) with data.release as lift_release
	d.state == "failure"
	{"comment_id": 962, "user": "lead-bob", "verdict": "refused", "why": "only release manager or SRE may lift a NOGO"} in d.votes
}

test_a_lift_without_a_reason_is_refused_with_what_to_write if {
	bare := object.union(lift("rm-grace", "", 963), {"refused": "a lift needs a reason: /lift @qa-carol <reason>"})
	d := gatekeeper.decision with input as after_push([bare]) with data.release as lift_release
	d.state == "failure"
	{"comment_id": 963, "user": "rm-grace", "verdict": "refused", "why": "a lift needs a reason: /lift @qa-carol <reason>"} in d.votes
}

test_a_lift_by_an_unchecked_lifter_waits_and_the_nogo_stands if {
	unchecked_teams := {team: object.remove(ms, ["rm-grace"]) | some team, ms in lift_teams}
	d := gatekeeper.decision with input as object.union(object.remove(after_push([lift("rm-grace", "fixed", 964)]), ["teams"]), {"teams": unchecked_teams}) with data.release as lift_release
	d.state == "failure"
	d.reasons == ["QA veto by qa-carol: refunds broken (on 0b1d4a7)"]
	d.waiting == ["checking rm-grace's team membership (lift of qa-carol's NOGO)"]
	not 964 in {v.comment_id | some v in d.votes}
}

test_a_lift_of_nobodys_nogo_is_refused if {
	none_standing := object.union(after_push([]), {"nogos": [], "lifts": [lift("rm-grace", "just in case", 965)], "votes": passing.votes})
	d := gatekeeper.decision with input as none_standing with data.release as lift_release
	d.state == "success"
	{"comment_id": 965, "user": "rm-grace", "verdict": "refused", "why": "qa-carol has no NOGO standing"} in d.votes
}

test_without_lift_roles_nobody_lifts if {
	d := gatekeeper.decision with input as after_push([lift("sre-dan", "hotfix verified", 966)]) with data.release as fixed_release
	d.state == "failure"
	{"comment_id": 966, "user": "sre-dan", "verdict": "refused", "why": "no role may lift a NOGO (policy data release.votes.lift_roles names none)"} in d.votes
}

test_lift_roles_must_be_a_list if {
	d := gatekeeper.decision with input as passing with data.release as release_with("votes", object.union(fixed_release.votes, {"lift_roles": "sre"}))
	"policy data release.votes.lift_roles is not a list" in d.reasons
}

# Bots -----------------------------------------------------------------------

# A "[bot]" account (a GitHub App, GitHub Actions) cannot be a team member,
# so the gatekeeper never asks about it: it holds no role from a team, and
# nothing waits for its membership. A NOGO it posts (a workflow running
# `gh pr comment -b "/nogo x"`, a bot quoting a merged PR's text) counts
# for nothing instead of holding the release for ever.
bot_vote(user, choice, id) := {"user": user, "vote": choice, "reason": "x", "refused": "", "comment_id": id, "head_sha": head_sha, "current": true}

test_nogo_by_a_bot_is_not_waited_for if {
	d := gatekeeper.decision with input as with_section("votes", array.concat(passing.votes, [bot_vote("github-actions[bot]", "nogo", 970)])) with data.release as fixed_release
	d.state == "success"
	d.waiting == []
	{"comment_id": 970, "user": "github-actions[bot]", "verdict": "refused", "why": "only module lead, SRE, QA, management and release manager vote"} in d.votes
}

test_standing_nogo_by_a_bot_is_not_waited_for if {
	bot := {"user": "ci[bot]", "reason": "x", "comment_id": 971, "head_sha": old_head, "current": false, "lifts": []}
	d := gatekeeper.decision with input as object.union(passing, {"nogos": [bot]}) with data.release as fixed_release
	d.state == "success"
	d.waiting == []
}

test_changes_requested_by_a_bot_is_not_waited_for if {
	d := gatekeeper.decision with input as with_section("reviews", array.concat(passing.reviews, [changes_requested("review-bot[bot]")])) with data.release as fixed_release
	d.state == "success"
	d.waiting == []
}

test_go_by_a_bot_does_not_count if {
	d := gatekeeper.decision with input as with_section("votes", array.concat(votes_without("lead-bob"), [bot_vote("github-actions[bot]", "go", 972)])) with data.release as fixed_release
	d.waiting == ["GO vote by module lead"]
}

# A bot the policy data lists by name holds that role, as anyone listed
# does: the data says so explicitly; only team membership is not asked.
test_a_listed_bot_holds_its_role if {
	roles := [object.union(r, {"users": ["ops[bot]"]}) | some r in fixed_release.approvals.roles; r.id == "sre"]
	others := [r | some r in fixed_release.approvals.roles; r.id != "sre"]
	d := gatekeeper.decision with input as with_section("votes", array.concat(passing.votes, [bot_vote("ops[bot]", "nogo", 973)]))
		with data.release as roles_with(array.concat(others, roles))
	d.state == "failure"
}
