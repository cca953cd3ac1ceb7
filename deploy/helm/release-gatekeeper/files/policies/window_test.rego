# Tests of the release window (weekdays, 17:00 to 19:00 IST) and of the
# emergency release. 2024-06-14 is a Friday; IST is UTC+05:30.
package gatekeeper_test

import data.gatekeeper

# at returns the passing input evaluated at now (RFC 3339).
at(now) := object.union(passing, {"now": now})

# window_with returns the fixed settings with window settings changed.
window_with(patch) := release_with("window", object.union(fixed_release.window, patch))

emergency_pull := with_pull({"labels": ["release", "emergency-release"]})

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

test_emergency_release_skips_the_window if {
	d := gatekeeper.decision with input as emergency_pull with input.now as "2024-06-15T12:00:00Z" with data.release as fixed_release
	d.state == "success"
}

test_emergency_release_needs_its_extra_approvals if {
	d := gatekeeper.decision with input as emergency_pull with input.now as "2024-06-15T12:00:00Z"
		with input.reviews as [review("lead-bob"), review("qa-carol")] with data.release as fixed_release
	d.state == "pending"
	d.waiting == ["emergency approval by SRE", "emergency approval by management"]
}

test_emergency_approval_says_what_is_missing if {
	old := object.union(review("sre-dan"), {"current": false})
	d := gatekeeper.decision with input as emergency_pull with input.reviews as [review("lead-bob"), review("qa-carol"), review("vp-erin"), old] with data.release as fixed_release
	d.waiting == ["emergency approval by SRE (sre-dan approved an older commit)"]
}

test_emergency_requires_a_role_that_is_otherwise_optional if {
	roles := [object.union(r, {"required": r.id != "management"}) | some r in fixed_release.approvals.roles]
	reviews := [review("lead-bob"), review("qa-carol"), review("sre-dan")]
	normal := gatekeeper.decision with input as passing with input.reviews as reviews with data.release as roles_with(roles)
	normal.state == "success"
	urgent := gatekeeper.decision with input as emergency_pull with input.reviews as reviews with data.release as roles_with(roles)
	urgent.waiting == ["emergency approval by management"]
}

test_emergency_label_comes_from_data if {
	d := gatekeeper.decision with input as with_pull({"labels": ["hotfix"]}) with input.now as "2024-06-15T12:00:00Z"
		with data.release as release_with("emergency", {"label": "hotfix", "extra_approval_roles": ["management"]})
	d.state == "success"
}

test_other_labels_do_not_skip_the_window if {
	d := gatekeeper.decision with input as with_pull({"labels": ["urgent"]}) with input.now as "2024-06-15T12:00:00Z" with data.release as fixed_release
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
