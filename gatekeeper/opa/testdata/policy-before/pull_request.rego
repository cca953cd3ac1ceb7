# Pull request, other systems' checks and evidence sources.
package gatekeeper

waiting_items contains [0, "pull request details from GitHub"] if not pr

reason_items contains [10, "pull request already merged"] if pr.merged == true

reason_items contains [10, sprintf("pull request is %v", [object.get(pr, "state", "in no known state")])] if {
	pr
	not pr.merged == true
	not pr.state == "open"
}

reason_items contains [11, "pull request is a draft"] if pr.draft == true

reason_items contains [12, sprintf("%v into %v is not a gated branch pair", [pr.head_ref, pr.base_ref])] if {
	pr
	not pr.gated == true
}

# Checks by other systems on the current head (BuildInput leaves out older
# heads and the gatekeeper's own status).
check_words := {"failure": "failed", "error": "errored"}

reason_items contains [20, sprintf("check %s %s", [check.name, check_words[check.state]])] if {
	some check in input.checks
	check_words[check.state]
}

waiting_items contains [20, sprintf("check %s", [check.name])] if {
	some check in input.checks
	check.state == "pending"
}

# Anyone with write access may set a status in any context: a check whose
# newest report is by another creator than the one that first reported it
# (a status set by hand over the CI's) is not a pass, whatever either says.
# A later report by the first creator clears it.
reason_items contains [20, sprintf("check %s reported by %s, then set to %v by %s", [check.name, who(check, "creator"), object.get(check.takeover, "state", "?"), who(check.takeover, "creator")])] if {
	some check in input.checks
	is_object(object.get(check, "takeover", null))
}

# who names the login at obj[key], also when it is missing or "".
who(obj, key) := sprintf("%v", [obj[key]]) if {
	not obj[key] in {"", null}
} else := "an unknown creator"

# A state the gatekeeper does not know is not a pass.
waiting_items contains [21, sprintf("check %s (state %v)", [check.name, check.state])] if {
	some check in input.checks
	not object.get(check, "state", null) in {"success", "pending", "failure", "error"}
}

# An evidence source that did not answer: what it would say is unknown.
waiting_items contains [5, sprintf("%s evidence unavailable%s", [name, brief_error(source)])] if {
	some name, source in input.sources
	not source.ok == true
}

brief_error(source) := "" if {
	object.get(source, "error", "") == ""
} else := sprintf(": %s…", [substring(msg, 0, 47)]) if {
	msg := sprintf("%v", [source.error])
	count(msg) > 48
} else := sprintf(": %v", [source.error])
