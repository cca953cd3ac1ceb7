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
	"votes": vote_verdicts,
	"passes": passes,
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

# channel is the channel a passing release is tagged with, from the same
# metrics: stable when the coverage and the medium vulnerabilities are
# within channel.stable in data.yaml, beta otherwise; null unless success.
channel := metrics_channel if {
	state == "success"
} else := null

metrics_channel := "stable" if {
	build.coverage.line >= cfg.channel.stable.min_coverage
	scan_count("medium") <= cfg.channel.stable.max_medium
} else := "beta"

# cfg is data.release, the settings in data.yaml. It is {} when the data file
# is missing, so that the checks below fail the release instead of every rule
# that reads a setting quietly not firing.
default cfg := {}

cfg := data.release if is_object(data.release)

# data_reasons are the mistakes in the policy data. They depend on the
# policy data alone, never on the input: the gatekeeper evaluates them (and
# every other rule of the data alone) once per policy revision, not once per
# evaluation. Keep them free of input.
reason_items contains item if some item in data_reasons

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
	["channel", "stable", "min_coverage"],
	["channel", "stable", "max_medium"],
]

data_reasons contains [1, sprintf("policy data release.%s is not a number", [concat(".", path)])] if {
	some path in required_numbers
	not is_number(object.get(cfg, path, null))
}

# Lists that must not be empty: without them a rule would check nothing.
required_lists := [
	["build", "stages"],
	["approvals", "roles"],
	["votes", "quorum_roles"],
]

data_reasons contains [1, sprintf("policy data release.%s is empty", [concat(".", path)])] if {
	some path in required_lists
	count(object.get(cfg, path, [])) == 0
}

# Lists that may be empty but must be lists: a misspelt key would
# otherwise switch its rule off.
optional_lists := [
	["votes", "veto_roles"],
	["checklist", "required"],
	["emergency", "extra_approval_roles"],
	["emergency", "release_kinds"],
]

data_reasons contains [1, sprintf("policy data release.%s is not a list", [concat(".", path)])] if {
	some path in optional_lists
	not is_array(object.get(cfg, path, null))
}

# Settings that must be true or false when present (absent: true).
optional_booleans := [
	["approvals", "one_person_one_role"],
	["vulnerabilities", "count_suppressed"],
	["links", "verify_in_zenhub"],
]

data_reasons contains [1, sprintf("policy data release.%s is not true or false", [concat(".", path)])] if {
	some path in optional_booleans
	not is_boolean(object.get(cfg, path, true))
}

# votes.lift_roles may be absent (nobody lifts a NOGO but its author).
data_reasons contains [1, "policy data release.votes.lift_roles is not a list"] if {
	not is_array(object.get(cfg, ["votes", "lift_roles"], []))
}

data_reasons contains [1, "policy data release.emergency.label is not a string"] if {
	not is_string(object.get(cfg, ["emergency", "label"], null))
}

# The extra roles of an emergency must be roles a normal release does not
# need: otherwise the approvals every release has anyway would open the
# window, and the label alone would do it.
data_reasons contains [1, sprintf("policy data release.emergency.extra_approval_roles: %v is a role every release needs (give it required: false)", [role.id])] if {
	some id in object.get(cfg, ["emergency", "extra_approval_roles"], [])
	some role in roles
	role.id == id
	approval_required_normally(role)
}

release_kind_names := {"major", "minor", "release"}

data_reasons contains [1, sprintf("policy data release.emergency.release_kinds: %v is not major, minor or release", [kind])] if {
	some kind in object.get(cfg, ["emergency", "release_kinds"], [])
	not kind in release_kind_names
}

# Lists of role ids must name roles.
role_lists := [
	["votes", "quorum_roles"],
	["votes", "veto_roles"],
	["emergency", "extra_approval_roles"],
]

data_reasons contains [1, sprintf("policy data release.%s: %v is not a role", [concat(".", path), id])] if {
	some path in role_lists
	some id in object.get(cfg, path, [])
	not id in role_ids
}

# A role is held by the members of its team ("org/team-slug"), by the
# people listed in its users, or both; it needs at least one of them.
data_reasons contains [1, sprintf("policy data: role %v has no team or users", [object.get(role, "id", "?")])] if {
	some role in roles
	not is_string(object.get(role, "team", null))
	count(object.get(role, "users", [])) == 0
}

data_reasons contains [1, sprintf("policy data: role %v team %v is not org/team-slug", [object.get(role, "id", "?"), role.team])] if {
	some role in roles
	not regex.match(`^[^/\s]+/[^/\s]+$`, sprintf("%v", [role.team]))
}

data_reasons contains [1, sprintf("policy data: role %v users is not a list", [object.get(role, "id", "?")])] if {
	some role in roles
	not is_array(object.get(role, "users", []))
}

data_reasons contains [1, sprintf("policy data: role %v needs an id and a display", [object.get(role, "id", "?")])] if {
	some role in roles
	role_incomplete(role)
}

role_incomplete(role) if not is_string(object.get(role, "id", null))

role_incomplete(role) if not is_string(object.get(role, "display", null))

# One person, one role enumerates every subset of the roles: keep them few.
data_reasons contains [1, sprintf("policy data release.approvals.roles has %d roles (max 8)", [count(roles)])] if {
	count(roles) > 8
}
