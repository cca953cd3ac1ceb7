# Tests of checks whose creator the policy data pins
# (data.release.checks.creators): anyone with write access may post a
# status in any context, first or last; a pinned check counts only as its
# creator reports it.
package gatekeeper_test

import data.gatekeeper

pinned_release := release_with("checks", {"creators": {"ci/build": "CI-Bot"}})

pinned_decision(c) := d if {
	d := gatekeeper.decision with input as with_section("checks", [c]) with data.release as pinned_release
}

test_pinned_check_by_its_creator_counts if {
	d := pinned_decision(object.union(check("ci/build", "success"), {"creator": "ci-bot", "other_creators": [], "takeover": null}))
	d.state == "success"
}

test_pinned_check_failing_fails if {
	d := pinned_decision(object.union(check("ci/build", "failure"), {"creator": "ci-bot", "other_creators": [], "takeover": null}))
	d.reasons == ["check ci/build failed"]
}

# Someone posted in the context before the CI: the CI's newer report counts.
test_pinned_check_squatted_first_counts_the_creators_report if {
	d := pinned_decision(taken_over("ci/build", "success", "dev-mallory", "ci-bot", "failure"))
	d.reasons == ["check ci/build failed"]
	e := pinned_decision(taken_over("ci/build", "failure", "dev-mallory", "ci-bot", "success"))
	e.state == "success"
}

# The squatter posted first and last: the CI's failure in between is not
# known any more, and the squatter's success is no pass. The reason names
# who took the context and what to do.
test_pinned_check_squatted_first_and_last_is_no_pass if {
	d := pinned_decision(object.union(check("ci/build", "success"), {"creator": "dev-mallory", "other_creators": ["ci-bot"], "takeover": null}))
	d.state == "failure"
	d.reasons == ["check ci/build was taken by dev-mallory; only CI-Bot may report it (data release.checks.creators): re-run CI-Bot on this commit"]
}

# Never reported by its creator at all.
test_pinned_check_never_reported_by_its_creator_fails if {
	d := pinned_decision(taken_over("ci/build", "success", "dev-mallory", "dev-eve", "success"))
	d.state == "failure"
	d.reasons == ["check ci/build was taken by dev-eve; only CI-Bot may report it (data release.checks.creators): re-run CI-Bot on this commit"]
}

# A status set by hand over the CI's stays a takeover.
test_pinned_check_taken_over_after_its_creator_fails if {
	d := pinned_decision(taken_over("ci/build", "success", "ci-bot", "dev-mallory", "success"))
	d.reasons == ["check ci/build reported by ci-bot, then set to success by dev-mallory"]
}

# Other checks are as before.
test_unpinned_checks_unchanged if {
	c := object.union(check("ci/lint", "success"), {"creator": "dev-mallory", "other_creators": ["ci-bot"], "takeover": null})
	d := pinned_decision(c)
	d.state == "success"
}

# A pin that is no map of names to logins would pin nothing, silently.
test_pins_not_a_map_fail if {
	every bad in [["ci/build"], {"ci/build": ""}, {"ci/build": ["ci-bot"]}, "ci-bot"] {
		pins_refused(bad)
	}
}

pins_refused(bad) if {
	d := gatekeeper.decision with input as with_section("checks", []) with data.release as release_with("checks", {"creators": bad})
	d.state == "failure"
	"policy data release.checks.creators is not a map of check names to logins" in d.reasons
}
