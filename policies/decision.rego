# METADATA
# title: Release gate
# description: |
#   The decision the release gatekeeper turns into the release-gate commit
#   status. Fail closed: success only when nothing fails and nothing is
#   still awaited. Settings live in data.yaml (data.release).
package gatekeeper

# decision is the one document the gatekeeper queries.
decision := {
	"state": state,
	"reasons": reasons,
	"waiting": waiting,
	"channel": channel,
}

# reason_items and waiting_items hold [priority, message] pairs, so that the
# status description names what to act on first; messages are then listed by
# priority, and alphabetically within one priority.
reasons := [item[1] | some item in sort(reason_items)]

waiting := [item[1] | some item in sort(waiting_items)]

state := "failure" if {
	count(reasons) > 0
} else := "pending" if {
	count(waiting) > 0
} else := "success"

channel := object.get(cfg, ["channel", "default"], "stable") if {
	state == "success"
} else := null

# cfg is data.release, the settings in data.yaml. It is {} when the data file
# is missing, so that the checks below fail the release instead of every rule
# that reads a setting quietly not firing.
default cfg := {}

cfg := data.release if is_object(data.release)

# A note for editors: `not f(x)` is false, not true, when x is undefined; in a
# negation, read possibly absent fields with object.get.

# pr is the pull request snapshot, undefined while GitHub has not given one.
pr := input.pull_request if is_object(input.pull_request)

# head is the 7-character head sha, "" while unknown.
default head := ""

head := substring(pr.head_sha, 0, 7) if is_string(pr.head_sha)

# build_label names the build that counts: the one of the current head.
build_label := sprintf("Jenkins PR-merge build of %s", [head]) if {
	head != ""
} else := "Jenkins PR-merge build"

# Settings that must be numbers; a missing one would silently disable the
# rule that reads it, so it fails the release instead.
required_numbers := [
	["coverage", "min"],
	["coverage", "max_drop"],
	["vulnerabilities", "max_critical"],
	["vulnerabilities", "max_high"],
	["votes", "quorum"],
]

reason_items contains [1, sprintf("policy data release.%s is not a number", [concat(".", path)])] if {
	some path in required_numbers
	not is_number(object.get(cfg, path, null))
}

# Lists that must not be empty: without them a rule would check nothing.
required_lists := [
	["build", "stages"],
	["approvals", "roles"],
]

reason_items contains [1, sprintf("policy data release.%s is empty", [concat(".", path)])] if {
	some path in required_lists
	count(object.get(cfg, path, [])) == 0
}

reason_items contains [1, sprintf("policy data: role %v has no team", [object.get(role, "id", "?")])] if {
	some role in object.get(cfg, ["approvals", "roles"], [])
	not is_string(object.get(role, "team", null))
}
