# What passes: the requirements of the release that are met, each as a
# short sentence naming the requirement and the evidence ("build stage
# clone passed on build #57", "coverage 84.2% ≥ 80%", "approved by SRE
# @sre-dan on the head"). The check run and the details page list them
# beside what fails and what is awaited. They read the same rules and
# settings as the reasons and the waiting items (evidence.rego,
# people.rego, window.rego), so that an edit of data.yaml shows up here
# too. A requirement is named here only when its evidence counts: a build
# fact only when Jenkins confirmed it (or the pipeline report is trusted),
# an approval or a GO only when no other role needs the same person.
# Passes never decide the state: the decision is the reasons and waiting.
package gatekeeper

# pass_items hold [priority, message] or [priority, index, message]: the
# priorities are those of the matching reasons and waiting items, and the
# index keeps the stages and roles in the order of data.yaml.
passes := [item[count(item) - 1] | some item in sort(pass_items)]

# The pull request ---------------------------------------------------------

pass_items contains [10, sprintf("pull request open, not a draft, %v into %v gated", [pr.head_ref, pr.base_ref])] if {
	pr.state == "open"
	not pr.merged == true
	not pr.draft == true
	pr.gated == true
}

pass_items contains [20, sprintf("check %s passed", [check.name])] if {
	some check in input.checks
	check.state == "success"
	not is_object(object.get(check, "takeover", null))
}

# The build ---------------------------------------------------------------

# build_counts holds when the build's facts count: read from Jenkins, or
# claims trusted by release.build.trust_pipeline_report without JENKINS_URL.
build_counts if build.verified == true

build_counts if trusted_claims

build_confirmation := "confirmed by Jenkins" if {
	build.verified == true
} else := "pipeline report trusted, no JENKINS_URL"

# counted_build is the head's build on today's base, finished, whose facts count.
counted_build := build if {
	build_counts
	not build_running
}

pass_items contains [30, sprintf("Jenkins PR-merge build #%v of %s on %v %s succeeded (%s)", [counted_build.number, head, pr.base_ref, substring(base_tip, 0, 7), build_confirmation])] if {
	counted_build.result == "SUCCESS"
}

pass_items contains [31, i, sprintf("build stage %s passed on build #%v", [required.display, counted_build.number])] if {
	some i, required in cfg.build.stages
	stage_statuses(required.key) == {"SUCCESS"}
}

pass_items contains [40, sprintf("%v unit tests ran, none failing (build #%v)", [tests.total, counted_build.number])] if {
	tests.failed == 0
	tests.total > 0
}

pass_items contains [41, 0, sprintf("coverage %v%% ≥ %v%%", [round1(coverage.line), cfg.coverage.min])] if {
	counted_build
	coverage.line >= cfg.coverage.min
}

pass_items contains [41, 1, sprintf("coverage %v%% ≥ master %v%%", [round1(coverage.line), round1(baseline_line)])] if {
	counted_build
	coverage.line >= baseline_line
}

pass_items contains [41, 1, sprintf("coverage %v%% is %v points below master %v%% (max drop %v)", [round1(coverage.line), round1(drop), round1(baseline_line), cfg.coverage.max_drop])] if {
	counted_build
	drop := baseline_line - coverage.line
	drop > 0
	drop <= cfg.coverage.max_drop
}

pass_items contains [50, sprintf("vulnerability scan: %v critical (max %v%s), %v high (max %v%s)", [
	scan_count("critical"), cfg.vulnerabilities.max_critical, suppressed_note("critical"),
	scan_count("high"), cfg.vulnerabilities.max_high, suppressed_note("high"),
])] if {
	counted_build
	scan_count("critical") <= cfg.vulnerabilities.max_critical
	scan_count("high") <= cfg.vulnerabilities.max_high
}

pass_items contains [60, sprintf("Helm chart %s is for commit %s", [chart.version, chart.sha])] if {
	counted_build
	chart.valid == true
	chart.pinned == true
}

# People ------------------------------------------------------------------

# at_list names people as "@alice, @bob".
at_list(users) := concat(", ", [sprintf("@%s", [user]) | some user in sort(users)])

# short_of are the names of the roles one person one role leaves short
# (approval_gap, go_gap): none of them passes yet.
default approvals_short_of := []

approvals_short_of := approval_gap[3]

default go_short_of := []

go_short_of := go_gap[3]

go_gap := shortfall([[role_name(role), go_voters(role)] |
	some role in quorum_roles
	count(go_voters(role)) > 0
]) if one_person_one_role

pass_items contains [70, i, sprintf("approved by %s %s on the head", [role_name(role), at_list(users)])] if {
	some i, role in approval_roles
	not role.id in emergency_roles
	users := approvers(role)
	count(users) > 0
	not role_name(role) in approvals_short_of
}

pass_items contains [69, i, sprintf("emergency approval by %s %s after the %s label", [role_name(role), at_list(users), emergency_label_name])] if {
	some i, role in approval_roles
	role.id in emergency_roles
	users := approvers(role)
	count(users) > 0
	not role_name(role) in approvals_short_of
}

# nogo_unchecked holds while a NOGO's author's roles are still being checked.
nogo_unchecked if {
	some nogo in standing
	not holds_a_role(nogo.user)
	unchecked_somewhere(nogo.user)
}

pass_items contains [75, "no NOGO stands"] if {
	pr
	count(counted_nogos) == 0
	not nogo_unchecked
}

pass_items contains [80, i, sprintf("GO by %s %s on the head", [role_name(role), at_list(users)])] if {
	some i, role in quorum_roles
	users := go_voters(role)
	count(users) > 0
	not role_name(role) in go_short_of
}

# Issue links and the checklist ------------------------------------------------

linked_refs := sort({link.ref | some [link, _] in linked})

pass_items contains [85, sprintf("the release links %s", [ref_list(sort({link.ref | some link in links.issues}))])] if {
	count(object.get(links, "issues", [])) > 0
}

# ref_list names at most five issues, then how many more.
ref_list(refs) := concat(", ", refs) if {
	count(refs) <= 5
} else := sprintf("%s and %d more", [concat(", ", array.slice(refs, 0, 5)), count(refs) - 5])

pass_items contains [86, sprintf("every merged pull request links an issue (%d merged)", [count(links.merged_pulls)])] if {
	links.merged_pulls_known == true
	count(links.merged_pulls) > 0
	every merged in links.merged_pulls {
		count(object.get(merged, "links", [])) > 0
	}
}

pass_items contains [90, sprintf("%s found in ZenHub", [issue_count(count(linked_refs))])] if {
	verify_in_zenhub
	count(linked_refs) > 0
	every pair in linked {
		pair[0].zenhub.found == true
	}
}

issue_count(n) := "the linked issue" if n == 1

else := sprintf("all %d linked issues", [n])

pass_items contains [100, sprintf("checklist ticked: %s", [concat(", ", required_items)])] if {
	count(required_items) > 0
	count(checklist) > 0
	count(unticked) == 0
}

# The release window ----------------------------------------------------------

pass_items contains [110, sprintf("inside the release window (%s %s–%s %s)", [today, window.release, window.close, zone_label])] if {
	window_enforced
	in_window
}

pass_items contains [110, sprintf("emergency %s release outside the window, approved after the %s label", [kind_words[release_kind], emergency_label_name])] if {
	outside_window
	emergency
}
