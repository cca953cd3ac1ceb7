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

# A check the policy data pins (release.checks.creators: context or check
# run name -> login or app slug, compared whatever the case) counts only as
# that creator reports it: its first report, or its newest when someone else
# posted in the context before it. Anyone else's report neither passes nor
# fails it. Other checks count as their first creator reports them.
pinned(check) := lower(data.release.checks.creators[check.name])

# A pin that is no map of names to logins would pin nothing, silently.
data_reasons contains [1, "policy data release.checks.creators is not a map of check names to logins"] if {
	not valid_pins(object.get(data.release, ["checks", "creators"], {}))
}

valid_pins(pins) if {
	is_object(pins)
	every _, login in pins {
		is_string(login)
		login != ""
	}
}

# check_verdict is the report that counts for the check; undefined when a pinned
# check's creator's report is not known.
check_verdict(check) := check if not pinned(check)

check_verdict(check) := check if lower(object.get(check, "creator", "")) == pinned(check)

check_verdict(check) := check.takeover if {
	not lower(object.get(check, "creator", "")) == pinned(check)
	is_object(object.get(check, "takeover", null))
	lower(object.get(check.takeover, "creator", "")) == pinned(check)
}

reason_items contains [20, sprintf("check %s %s", [check.name, check_words[check_verdict(check).state]])] if {
	some check in input.checks
	check_words[check_verdict(check).state]
}

waiting_items contains [20, sprintf("check %s", [check.name])] if {
	some check in input.checks
	check_verdict(check).state == "pending"
}

# Anyone with write access may set a status in any context: a check whose
# newest report is by another creator than the one that first reported it
# (a status set by hand over the CI's) is not a pass, whatever either says.
# A later report by the first creator clears it. For a pinned check that
# the creator took back from someone who posted first, the creator's
# report counts (check_verdict).
reason_items contains [20, sprintf("check %s reported by %s, then set to %v by %s", [check.name, who(check, "creator"), object.get(check.takeover, "state", "?"), who(check.takeover, "creator")])] if {
	some check in input.checks
	is_object(object.get(check, "takeover", null))
	not pinned(check)
}

reason_items contains [20, sprintf("check %s reported by %s, then set to %v by %s", [check.name, who(check, "creator"), object.get(check.takeover, "state", "?"), who(check.takeover, "creator")])] if {
	some check in input.checks
	is_object(object.get(check, "takeover", null))
	lower(object.get(check, "creator", "")) == pinned(check)
}

# A pinned check whose creator's report is not known: someone else took
# the context (first, and last as well). Their report is no pass; the
# creator reporting again on this commit gives the verdict.
reason_items contains [20, sprintf("check %s was taken by %s; only %v may report it (data release.checks.creators): re-run %v on this commit", [check.name, taker(check), pin, pin])] if {
	some check in input.checks
	pinned(check)
	not check_verdict(check)
	pin := data.release.checks.creators[check.name]
}

# taker is who last reported a check, as the merge box shows it.
taker(check) := who(check.takeover, "creator") if {
	is_object(object.get(check, "takeover", null))
} else := who(check, "creator")

# who names the login at obj[key], also when it is missing or "".
who(obj, key) := sprintf("%v", [obj[key]]) if {
	not obj[key] in {"", null}
} else := "an unknown creator"

# A state the gatekeeper does not know is not a pass.
waiting_items contains [21, sprintf("check %s (state %v)", [check.name, v.state])] if {
	some check in input.checks
	v := check_verdict(check)
	not object.get(v, "state", null) in {"success", "pending", "failure", "error"}
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
