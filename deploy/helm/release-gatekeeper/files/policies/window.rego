# The release window: the release merges on a release weekday between the
# release time and the close time, in the window's time zone. Outside it the
# status stays pending (the same evidence passes once the window opens; the
# gatekeeper evaluates again every minute), and says when it opens. An
# emergency minor release (a label on the pull request) may merge outside
# the window; people.rego asks it for the extra approvals.
package gatekeeper

window := object.get(cfg, "window", {})

# window_enforced: the window applies unless data says enforce: false.
window_enforced if not object.get(window, "enforce", true) == false

# emergency holds when the pull request carries the emergency label.
emergency if {
	label := object.get(cfg, ["emergency", "label"], "")
	label != ""
	label in object.get(pr, "labels", [])
}

week := ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# minutes turns "HH:MM" into minutes after midnight; undefined when malformed.
minutes(hhmm) := (to_number(parts[0]) * 60) + to_number(parts[1]) if {
	is_string(hhmm)
	regex.match(`^([01][0-9]|2[0-3]):[0-5][0-9]$`, hhmm)
	parts := split(hhmm, ":")
}

zone_label := object.get(window, "zone_label", object.get(window, "timezone", "UTC"))

now_ns := time.parse_rfc3339_ns(input.now) if is_string(input.now)

# today and now_minute are the evaluation time in the window's time zone.
today := time.weekday([now_ns, window.timezone])

now_minute := (clock[0] * 60) + clock[1] if clock := time.clock([now_ns, window.timezone])

opens := minutes(window.release)

closes := minutes(window.close)

release_day(day) if day in object.get(window, "weekdays", [])

in_window if {
	release_day(today)
	opens <= now_minute
	now_minute < closes
}

# next_release_day is the first release weekday after today.
next_release_day := [day |
	some i, d in week
	d == today
	some k in numbers.range(1, 7)
	day := week[(i + k) % 7]
	release_day(day)
][0]

window_applies if {
	window_enforced
	not emergency
}

waiting_items contains [110, "release window (time of evaluation unknown)"] if {
	window_applies
	not now_ns
}

waiting_items contains [110, sprintf("release window opens %s %s", [window.release, zone_label])] if {
	window_applies
	release_day(today)
	now_minute < opens
}

waiting_items contains [110, sprintf("release window opens %s %s %s", [next_release_day, window.release, zone_label])] if {
	window_applies
	now_ns
	not in_window
	not opening_today
}

opening_today if {
	release_day(today)
	now_minute < opens
}

# Settings of the window, checked only while it is enforced.
reason_items contains [1, "policy data release.window.enforce is not true or false"] if {
	not is_boolean(object.get(window, "enforce", false))
}

reason_items contains [1, sprintf("policy data release.window.%s is not HH:MM", [key])] if {
	window_enforced
	some key in ["go_nogo", "release", "close"]
	not minutes(object.get(window, key, null))
}

reason_items contains [1, sprintf("policy data release.window: release %s is not before close %s", [window.release, window.close])] if {
	window_enforced
	opens >= closes
}

reason_items contains [1, "policy data release.window.timezone is not a time zone name"] if {
	window_enforced
	not is_string(object.get(window, "timezone", null))
}

reason_items contains [1, "policy data release.window.weekdays is empty"] if {
	window_enforced
	count(object.get(window, "weekdays", [])) == 0
}

reason_items contains [1, sprintf("policy data release.window.weekdays: %v is not a weekday", [day])] if {
	window_enforced
	some day in object.get(window, "weekdays", [])
	not day in week
}
