# The release window: the release merges on a release weekday between the
# release time and the close time, in the window's time zone. Outside it the
# status stays pending (the same evidence passes once the window opens; the
# gatekeeper evaluates again when it opens and closes, and every minute),
# and says when it opens. An emergency minor release may merge outside the
# window (below); people.rego asks it for the extra approvals.
package gatekeeper

window := object.get(cfg, "window", {})

# window_enforced: the window applies unless data says enforce: false.
window_enforced if not object.get(window, "enforce", true) == false

# An emergency is more than a label. Outside the window a release needs the
# emergency label, the release kind data allows (minor by default), and
# approvals given after the label by each of the extra roles (roles a
# normal release does not need). Only then does the window open: the label
# alone never does.

emergency_label_name := object.get(cfg, ["emergency", "label"], "")

# emergency_label holds when the pull request carries the emergency label.
emergency_label if {
	emergency_label_name != ""
	emergency_label_name in object.get(pr, "labels", [])
}

# emergency_label_ns is when the label was (last) added, as GitHub's
# labeled event said; undefined when the gatekeeper did not see it.
emergency_label_ns := time.parse_rfc3339_ns(at) if {
	emergency_label
	at := object.get(pr, ["labeled_at", emergency_label_name], null)
	is_string(at)
}

# release_kind compares the chart built with master's (build.base_chart):
# "major" when the major number went up, "minor" when the minor did (same
# major), "release" when only the release number did. Undefined when either
# is unknown or malformed, the modules differ, or the chart is not newer.
chart_numbers(c) := [to_number(c.major), to_number(c.minor), to_number(c.release)]

base_chart := build.base_chart if build.base_chart.valid == true

release_kind := "major" if {
	chart.valid == true
	chart.module == base_chart.module
	chart_numbers(chart)[0] > chart_numbers(base_chart)[0]
} else := "minor" if {
	chart.valid == true
	chart.module == base_chart.module
	chart_numbers(chart)[0] == chart_numbers(base_chart)[0]
	chart_numbers(chart)[1] > chart_numbers(base_chart)[1]
} else := "release" if {
	chart.valid == true
	chart.module == base_chart.module
	array.slice(chart_numbers(chart), 0, 2) == array.slice(chart_numbers(base_chart), 0, 2)
	chart_numbers(chart)[2] > chart_numbers(base_chart)[2]
}

kind_words := {"major": "major", "minor": "minor", "release": "release-number-only"}

emergency_kinds := object.get(cfg, ["emergency", "release_kinds"], ["minor"])

# emergency_roles are the extra roles an emergency release needs approvals
# from (people.rego counts only those given after the label).
emergency_roles := {id |
	emergency_label
	some id in object.get(cfg, ["emergency", "extra_approval_roles"], [])
}

# emergency holds when the emergency opens the window: label, kind and
# every extra role's approval after the label. Extra roles that every
# release needs anyway (a data error, reported below) never open it.
emergency if {
	emergency_label
	emergency_label_ns
	release_kind in emergency_kinds
	count(emergency_roles) > 0
	every id in emergency_roles {
		some role in roles
		role.id == id
		not approval_required_normally(role)
		count(approvers(role)) > 0
	}
	not approval_gap # the extra approvals come from other people
}

# outside_window holds when the window is enforced and the evaluation time
# is outside it (or unknown): only then does an emergency matter.
outside_window if {
	window_enforced
	not in_window
}

# Why the label does not open the window (outside it).
waiting_items contains [68, sprintf("time the %s label was added (remove it and add it again)", [emergency_label_name])] if {
	outside_window
	emergency_label
	not emergency_label_ns
}

waiting_items contains [68, sprintf("master's Helm chart version (an emergency release must be %s)", [or_list(emergency_kinds)])] if {
	outside_window
	emergency_label
	chart.valid == true
	not base_chart
}

reason_items contains [68, sprintf("emergency release refused: Helm chart %s is a %s release over master's %s (allowed: %s)", [chart.version, kind_words[kind], base_chart.version, or_list(emergency_kinds)])] if {
	outside_window
	emergency_label
	kind := release_kind
	not kind in emergency_kinds
}

reason_items contains [68, sprintf("emergency release refused: Helm chart %s is not a newer %s than master's %s", [chart.version, base_chart.module, base_chart.version])] if {
	outside_window
	emergency_label
	chart.valid == true
	base_chart
	not release_kind
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
data_reasons contains [1, "policy data release.window.enforce is not true or false"] if {
	not is_boolean(object.get(window, "enforce", false))
}

data_reasons contains [1, sprintf("policy data release.window.%s is not HH:MM", [key])] if {
	window_enforced
	some key in ["go_nogo", "release", "close"]
	not minutes(object.get(window, key, null))
}

data_reasons contains [1, sprintf("policy data release.window: release %s is not before close %s", [window.release, window.close])] if {
	window_enforced
	opens >= closes
}

data_reasons contains [1, "policy data release.window.timezone is not a time zone name"] if {
	window_enforced
	not is_string(object.get(window, "timezone", null))
}

data_reasons contains [1, "policy data release.window.weekdays is empty"] if {
	window_enforced
	count(object.get(window, "weekdays", [])) == 0
}

data_reasons contains [1, sprintf("policy data release.window.weekdays: %v is not a weekday", [day])] if {
	window_enforced
	some day in object.get(window, "weekdays", [])
	not day in week
}
