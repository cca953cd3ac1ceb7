# Tests of the release window (weekdays, 17:00 to 19:00 IST) and of the
# emergency release. 2024-06-14 is a Friday; IST is UTC+05:30.
package gatekeeper_test

import data.gatekeeper

# at returns the passing input evaluated at now (RFC 3339).
at(now) := object.union(passing, {"now": now})

# window_with returns the fixed settings with window settings changed.
window_with(patch) := release_with("window", object.union(fixed_release.window, patch))

test_inside_the_window_passes if {
	d := gatekeeper.decision with input as at("2024-06-14T13:29:00Z") with data.release as fixed_release # 18:59 IST
	d.state == "success"
}

test_the_window_opens_on_the_minute if {
	d := gatekeeper.decision with input as at("2024-06-14T11:30:00Z") with data.release as fixed_release # 17:00 IST
	d.state == "success"
}

test_before_the_window_on_a_release_day_waits if {
	d := gatekeeper.decision with input as at("2024-06-14T11:29:00Z") with data.release as fixed_release # 16:59 IST
	without_votes(d) == {"state": "pending", "reasons": [], "waiting": ["release window opens 17:00 IST"], "channel": null}
}

test_after_the_window_waits_for_the_next_release_day if {
	d := gatekeeper.decision with input as at("2024-06-14T13:30:00Z") with data.release as fixed_release # 19:00 IST Friday
	d.state == "pending"
	d.waiting == ["release window opens Monday 17:00 IST"]
}

test_weekend_waits_for_monday if {
	d := gatekeeper.decision with input as at("2024-06-15T12:00:00Z") with data.release as fixed_release # 17:30 IST Saturday
	d.waiting == ["release window opens Monday 17:00 IST"]
}

test_the_day_is_the_day_in_the_window_time_zone if {
	# Sunday 19:00 UTC is Monday 00:30 IST: a release day, before the window.
	d := gatekeeper.decision with input as at("2024-06-16T19:00:00Z") with data.release as fixed_release
	d.waiting == ["release window opens 17:00 IST"]
}

test_after_the_window_on_a_weekday_waits_for_the_next_day if {
	d := gatekeeper.decision with input as at("2024-06-13T14:00:00Z") with data.release as fixed_release # 19:30 IST Thursday
	d.waiting == ["release window opens Friday 17:00 IST"]
}

test_a_single_release_day_waits_a_week if {
	d := gatekeeper.decision with input as at("2024-06-14T14:00:00Z") with data.release as window_with({"weekdays": ["Friday"]})
	d.waiting == ["release window opens Friday 17:00 IST"]
}

test_window_settings_come_from_data if {
	d := gatekeeper.decision with input as at("2024-06-14T12:00:00Z")
		with data.release as window_with({"timezone": "UTC", "zone_label": "UTC", "release": "13:00", "close": "15:00"})
	d.waiting == ["release window opens 13:00 UTC"]
}

test_window_can_be_switched_off if {
	d := gatekeeper.decision with input as at("2024-06-15T12:00:00Z") with data.release as window_with({"enforce": false})
	d.state == "success"
}

test_unknown_time_waits if {
	d := gatekeeper.decision with input as object.remove(passing, ["now"]) with data.release as fixed_release
	d.waiting == ["release window (time of evaluation unknown)"]
}

# Emergency release ------------------------------------------------------------

# emergency is the passing release turned into an emergency minor release
# on Saturday 2024-06-15 at 17:30 IST (12:00 UTC), outside the window: the
# label added at 16:30 IST, chart 2.15.0 over master's 2.14.3, the four
# normal approvals of Friday morning, and the release manager's approval
# given after the label.
label_time := "2024-06-15T11:00:00Z"

saturday := "2024-06-15T12:00:00Z"

emergency_pull := object.union(pull_request, {
	"labels": ["release", "emergency-release"],
	"labeled_at": {"release": "2024-06-13T08:00:00Z", "emergency-release": label_time},
})

chart_of(version, major, minor, release, sha) := {
	"version": version, "module": "payments", "major": major, "minor": minor, "release": release,
	"sha": sha, "valid": true,
}

minor_build := object.union(build, {
	"chart": object.union(chart_of("payments-2-15-0-1a2b3c4", "2", "15", "0", "1a2b3c4"), {"pinned": true}),
	"base_chart": chart_of("payments-2-14-3-9049f12", "2", "14", "3", "9049f12"),
})

review_at(user, at) := object.union(review(user), {"submitted_at": at})

# normal_reviews are the approvals every release needs, given the day before.
normal_reviews := [review("lead-bob"), review("sre-dan"), review("qa-carol"), review("vp-erin")]

emergency := object.union(passing, {
	"now": saturday,
	"pull_request": emergency_pull,
	"build": minor_build,
	"reviews": array.concat(normal_reviews, [review_at("rm-gina", "2024-06-15T11:30:00Z")]),
})

# with_emergency returns the emergency input with one section replaced.
with_emergency(key, value) := object.union(object.remove(emergency, [key]), {key: value})

test_emergency_minor_release_with_late_extra_approval_opens_the_window if {
	d := gatekeeper.decision with input as emergency with data.release as fixed_release
	d.state == "success"
}

test_emergency_label_alone_never_opens_the_window if {
	# The label on an otherwise passing release, every normal approval in:
	# no release manager, master's chart not known.
	alone := object.union(passing, {"now": saturday, "pull_request": emergency_pull})
	d := gatekeeper.decision with input as alone with data.release as fixed_release
	d.state == "pending"
	d.reasons == []
	d.waiting == [
		"master's Helm chart version (an emergency release must be minor)",
		"emergency approval by release manager",
		"release window opens Monday 17:00 IST",
	]
}

test_emergency_label_alone_never_opens_the_window_whatever_the_approvals if {
	# Every role's approval, the release manager's too, but the label's
	# time never seen: approvals cannot be placed after it.
	unseen := with_emergency("pull_request", object.union(object.remove(emergency_pull, ["labeled_at"]), {"labeled_at": {}}))
	d := gatekeeper.decision with input as unseen with data.release as fixed_release
	d.state == "pending"
	d.waiting == [
		"time the emergency-release label was added (remove it and add it again)",
		"emergency approval by release manager (rm-gina approved before the emergency-release label)",
		"release window opens Monday 17:00 IST",
	]
}

test_approvals_before_the_label_do_not_count if {
	early := array.concat(normal_reviews, [review_at("rm-gina", "2024-06-15T10:59:59Z")])
	d := gatekeeper.decision with input as with_emergency("reviews", early) with data.release as fixed_release
	d.state == "pending"
	d.waiting == [
		"emergency approval by release manager (rm-gina approved before the emergency-release label)",
		"release window opens Monday 17:00 IST",
	]
}

test_approval_in_the_same_second_as_the_label_does_not_count if {
	same := array.concat(normal_reviews, [review_at("rm-gina", label_time)])
	d := gatekeeper.decision with input as with_emergency("reviews", same) with data.release as fixed_release
	d.state == "pending"
}

test_label_added_again_makes_earlier_approvals_too_early if {
	again := object.union(emergency_pull, {"labeled_at": {"emergency-release": "2024-06-15T11:45:00Z"}})
	d := gatekeeper.decision with input as with_emergency("pull_request", again) with data.release as fixed_release
	d.state == "pending"
}

test_non_minor_emergency_is_refused if {
	major := object.union(minor_build, {"chart": object.union(chart_of("payments-3-0-0-1a2b3c4", "3", "0", "0", "1a2b3c4"), {"pinned": true})})
	d := gatekeeper.decision with input as with_emergency("build", major) with data.release as fixed_release
	d.state == "failure"
	d.reasons == ["emergency release refused: Helm chart payments-3-0-0-1a2b3c4 is a major release over master's payments-2-14-3-9049f12 (allowed: minor)"]
	d.waiting == ["release window opens Monday 17:00 IST"]
}

test_release_number_only_emergency_is_refused_by_default if {
	patch := object.union(minor_build, {"chart": object.union(chart_of("payments-2-14-4-1a2b3c4", "2", "14", "4", "1a2b3c4"), {"pinned": true})})
	d := gatekeeper.decision with input as with_emergency("build", patch) with data.release as fixed_release
	d.reasons == ["emergency release refused: Helm chart payments-2-14-4-1a2b3c4 is a release-number-only release over master's payments-2-14-3-9049f12 (allowed: minor)"]
	allowed := gatekeeper.decision with input as with_emergency("build", patch)
		with data.release as release_with("emergency", object.union(fixed_release.emergency, {"release_kinds": ["minor", "release"]}))
	allowed.state == "success"
}

test_emergency_chart_not_newer_than_master_is_refused if {
	# Minor number compared as a number: 2.9 is older than 2.14.
	older := object.union(minor_build, {"chart": object.union(chart_of("payments-2-9-7-1a2b3c4", "2", "9", "7", "1a2b3c4"), {"pinned": true})})
	d := gatekeeper.decision with input as with_emergency("build", older) with data.release as fixed_release
	d.reasons == ["emergency release refused: Helm chart payments-2-9-7-1a2b3c4 is not a newer payments than master's payments-2-14-3-9049f12"]
}

test_emergency_of_another_module_is_refused if {
	other := object.union(minor_build, {"base_chart": object.union(minor_build.base_chart, {"module": "ledger", "version": "ledger-2-14-3-9049f12"})})
	d := gatekeeper.decision with input as with_emergency("build", other) with data.release as fixed_release
	d.state == "failure"
}

test_author_cannot_be_the_emergency_approver if {
	authored := object.union(emergency_pull, {"author": "rm-gina"})
	d := gatekeeper.decision with input as with_emergency("pull_request", authored) with data.release as fixed_release
	d.state == "pending"
	"release window opens Monday 17:00 IST" in d.waiting
}

test_one_person_cannot_be_sre_and_release_manager if {
	# sre-dan also holds the release manager role and approves after the
	# label: one approval counts for one role.
	both := json.patch(emergency, [{"op": "add", "path": "/teams/releasegate~1release-managers/sre-dan", "value": true}])
	reviews := [review("lead-bob"), review_at("sre-dan", "2024-06-15T11:30:00Z"), review("qa-carol"), review("vp-erin")]
	d := gatekeeper.decision with input as object.union(object.remove(both, ["reviews"]), {"reviews": reviews}) with data.release as fixed_release
	d.state == "pending"
	d.waiting == ["another approver for SRE or release manager (sre-dan counts for one role)", "release window opens Monday 17:00 IST"]
}

test_emergency_needs_the_extra_role if {
	# Every normal role approved again after the label: still not enough.
	late := [review_at(user, "2024-06-15T11:30:00Z") | some user in ["lead-bob", "sre-dan", "qa-carol", "vp-erin"]]
	d := gatekeeper.decision with input as with_emergency("reviews", late) with data.release as fixed_release
	d.state == "pending"
	d.waiting == ["emergency approval by release manager", "release window opens Monday 17:00 IST"]
}

test_extra_role_that_every_release_needs_is_a_data_error if {
	# The old default: SRE and management, whom every release has anyway.
	d := gatekeeper.decision with input as emergency
		with data.release as release_with("emergency", object.union(fixed_release.emergency, {"extra_approval_roles": ["management", "sre"]}))
	d.state == "failure"
	"policy data release.emergency.extra_approval_roles: management is a role every release needs (give it required: false)" in d.reasons
	"policy data release.emergency.extra_approval_roles: sre is a role every release needs (give it required: false)" in d.reasons
	"release window opens Monday 17:00 IST" in d.waiting
}

test_no_extra_roles_means_no_emergency if {
	d := gatekeeper.decision with input as emergency
		with data.release as release_with("emergency", object.union(fixed_release.emergency, {"extra_approval_roles": []}))
	d.state == "pending"
	d.waiting == ["release window opens Monday 17:00 IST"]
}

test_unknown_release_kind_is_a_data_error if {
	d := gatekeeper.decision with input as emergency
		with data.release as release_with("emergency", object.union(fixed_release.emergency, {"release_kinds": ["hotfix"]}))
	"policy data release.emergency.release_kinds: hotfix is not major, minor or release" in d.reasons
}

test_emergency_label_inside_the_window_still_asks_the_extra_role if {
	d := gatekeeper.decision with input as object.union(passing, {"pull_request": emergency_pull}) with data.release as fixed_release
	d.state == "pending"
	d.waiting == ["emergency approval by release manager"]
}

test_emergency_label_comes_from_data if {
	hotfix := object.union(emergency_pull, {"labels": ["hotfix"], "labeled_at": {"hotfix": label_time}})
	d := gatekeeper.decision with input as with_emergency("pull_request", hotfix)
		with data.release as release_with("emergency", object.union(fixed_release.emergency, {"label": "hotfix"}))
	d.state == "success"
	default_label := gatekeeper.decision with input as with_emergency("pull_request", hotfix) with data.release as fixed_release
	default_label.waiting == ["release window opens Monday 17:00 IST"]
}

test_other_labels_do_not_skip_the_window if {
	d := gatekeeper.decision with input as with_pull({"labels": ["urgent"]}) with input.now as saturday with data.release as fixed_release
	d.waiting == ["release window opens Monday 17:00 IST"]
}

# Window settings --------------------------------------------------------------

test_malformed_time_fails if {
	d := gatekeeper.decision with input as passing with data.release as window_with({"release": "5pm"})
	d.state == "failure"
	d.reasons == ["policy data release.window.release is not HH:MM"]
}

test_release_after_close_fails if {
	d := gatekeeper.decision with input as passing with data.release as window_with({"release": "19:00", "close": "17:00"})
	d.reasons == ["policy data release.window: release 19:00 is not before close 17:00"]
}

test_misspelt_weekday_fails if {
	d := gatekeeper.decision with input as passing with data.release as window_with({"weekdays": ["Monday", "friday"]})
	d.reasons == ["policy data release.window.weekdays: friday is not a weekday"]
}

test_no_weekdays_fail if {
	d := gatekeeper.decision with input as passing with data.release as window_with({"weekdays": []})
	d.reasons == ["policy data release.window.weekdays is empty"]
}

test_non_boolean_enforce_fails if {
	d := gatekeeper.decision with input as passing with data.release as window_with({"enforce": "yes"})
	"policy data release.window.enforce is not true or false" in d.reasons
}

test_missing_timezone_fails if {
	d := gatekeeper.decision with input as passing with data.release as release_with("window", object.remove(fixed_release.window, ["timezone"]))
	d.reasons == ["policy data release.window.timezone is not a time zone name"]
}
