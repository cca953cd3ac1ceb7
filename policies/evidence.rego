# The release evidence: the Jenkins PR-merge build of the head (stages, unit
# tests, coverage, vulnerability scan, Helm chart), approvals by role,
# GO/NOGO votes, ZenHub issue links and the release checklist. Evidence not
# there yet is waited for; a report Jenkins says it does not have, or
# evidence that misses a threshold in data.release, fails the release.
package gatekeeper

# build is the newest PR-merge build of the current head. BuildInput passes
# no other; the head is checked again so that another head's never counts.
build := input.build if {
	is_object(input.build)
	input.build.head_sha == pr.head_sha
}

waiting_items contains [30, build_label] if not build

build_running if build.result == ""

build_running if build.building == true

# report_missing holds when Jenkins answered that the build has no such
# report: it will not come, so it fails rather than waits.
report_missing(name) if name in build.missing

# Words for Jenkins results and stage statuses in descriptions.
status_words := {
	"FAILED": "failed",
	"FAILURE": "failed",
	"UNSTABLE": "unstable",
	"ABORTED": "aborted",
	"NOT_EXECUTED": "not executed",
	"NOT_BUILT": "not built",
	"SKIPPED": "skipped",
}

word(status) := object.get(status_words, status, sprintf("in state %v", [status]))

stage_pending := {"IN_PROGRESS", "PAUSED_PENDING_INPUT"}

# stage_statuses are the statuses of the build's stages that map onto the
# release stage key (several Jenkins stages may).
stage_statuses(key) := {stage.status | some stage in build.stages; stage.key == key}

has_stages if count(build.stages) > 0

stage_reasons contains sprintf("build stage %s %s", [required.display, concat("/", [word(s) | some s in sort(bad)])]) if {
	some required in cfg.build.stages
	bad := (stage_statuses(required.key) - stage_pending) - {"SUCCESS"}
	count(bad) > 0
}

stage_reasons contains sprintf("build stage %s did not run", [required.display]) if {
	has_stages
	not build_running
	some required in cfg.build.stages
	count(stage_statuses(required.key)) == 0
}

stage_reasons contains sprintf("no stage report for Jenkins build #%v", [build.number]) if {
	not has_stages
	report_missing("stages")
}

reason_items contains [31, msg] if some msg in stage_reasons

# The build as a whole, when no stage explains why it did not succeed.
reason_items contains [30, sprintf("%s %s", [build_label, word(build.result)])] if {
	not build_running
	build.result != "SUCCESS"
	count(stage_reasons) == 0
}

# A stage still to come: running, or not reached yet by a running build.
stage_waits contains sprintf("build stage %s", [required.display]) if {
	has_stages
	some required in cfg.build.stages
	statuses := stage_statuses(required.key)
	count((statuses - stage_pending) - {"SUCCESS"}) == 0
	stage_waiting(statuses)
}

stage_waiting(statuses) if count(statuses & stage_pending) > 0

stage_waiting(statuses) if {
	count(statuses) == 0
	build_running
}

waiting_items contains [31, msg] if some msg in stage_waits

waiting_items contains [30, sprintf("%s to finish", [build_label])] if {
	build_running
	count(stage_waits) == 0
}

# A finished build whose stages Jenkins has not been asked about yet.
waiting_items contains [31, sprintf("stage report of Jenkins build #%v", [build.number])] if {
	not build_running
	not has_stages
	not report_missing("stages")
}

# Unit tests and coverage.
tests := build.tests if {
	is_number(build.tests.total)
	is_number(build.tests.failed)
}

waiting_items contains [40, "unit tests and coverage"] if {
	not tests
	not report_missing("tests")
}

reason_items contains [40, sprintf("no unit test report for Jenkins build #%v", [build.number])] if {
	not tests
	report_missing("tests")
}

reason_items contains [40, sprintf("%v unit tests failing", [tests.failed])] if tests.failed > 0

reason_items contains [40, "no unit tests ran"] if tests.total == 0

coverage := build.coverage if is_number(build.coverage.line)

waiting_items contains [40, "unit tests and coverage"] if {
	not coverage
	not report_missing("coverage")
}

reason_items contains [41, sprintf("no coverage report for Jenkins build #%v", [build.number])] if {
	not coverage
	report_missing("coverage")
}

reason_items contains [41, sprintf("coverage %v%% below %v%%", [round1(coverage.line), cfg.coverage.min])] if {
	coverage.line < cfg.coverage.min
}

# baseline_line is the line coverage of the latest good build of the base.
baseline_line := input.baseline.coverage.line if is_number(input.baseline.coverage.line)

waiting_items contains [42, "coverage of the base branch"] if {
	coverage
	not baseline_line
}

reason_items contains [41, sprintf("coverage dropped %v points vs master (max %v)", [round1(drop), cfg.coverage.max_drop])] if {
	drop := baseline_line - coverage.line
	drop > cfg.coverage.max_drop
}

round1(x) := round(x * 10) / 10

# Container vulnerability scan.
scan := build.vulnerabilities if {
	is_number(build.vulnerabilities.critical)
	is_number(build.vulnerabilities.high)
}

waiting_items contains [50, "vulnerability scan"] if not scan

reason_items contains [50, sprintf("%v critical vulnerabilities (max %v)", [scan.critical, cfg.vulnerabilities.max_critical])] if {
	scan.critical > cfg.vulnerabilities.max_critical
}

reason_items contains [50, sprintf("%v high vulnerabilities (max %v)", [scan.high, cfg.vulnerabilities.max_high])] if {
	scan.high > cfg.vulnerabilities.max_high
}

# Helm chart version <module>-<major>-<minor>-<release>-<commit_sha>: the
# gatekeeper parses it (valid) and matches its sha to the commit built
# (pinned: the merge commit of a PR-merge build, or the head).
chart := build.chart if is_string(build.chart.version)

waiting_items contains [60, "Helm chart version"] if not chart

reason_items contains [60, sprintf("Helm chart version %s malformed", [chart.version])] if {
	chart
	not chart.valid == true
}

reason_items contains [60, sprintf("Helm chart %s is not for commit %s", [chart.version, head])] if {
	chart.valid == true
	not chart.pinned == true
}

# Approvals by role: a current APPROVED review by an active member of the
# role's GitHub team who is not the author. A reviewer whose membership has
# not been checked yet does not count yet.
approved(role) if {
	some review in input.reviews
	review.state == "APPROVED"
	review.current == true
	review.user != pr.author
	input.teams[role.team][review.user] == true
}

missing_roles := [role.display | some role in cfg.approvals.roles; not approved(role)]

waiting_items contains [70, sprintf("approval by %s", [missing_roles[0]])] if count(missing_roles) == 1

waiting_items contains [70, sprintf("approvals: %s", [concat(", ", missing_roles)])] if count(missing_roles) > 1

# GO/NOGO votes on the current head; a refused vote (a NOGO without a
# reason) never counts. Any NOGO fails the release.
counted_votes contains vote if {
	some vote in input.votes
	vote.current == true
	object.get(vote, "refused", "") == ""
}

reason_items contains [75, sprintf("NOGO by %s: %s", [vote.user, vote.reason])] if {
	some vote in counted_votes
	lower(vote.vote) == "nogo"
}

# role_member holds when user is an active member of some release role.
role_member(user) if {
	some role in cfg.approvals.roles
	input.teams[role.team][user] == true
}

# GO votes count from members of the release roles only.
go_voters contains vote.user if {
	some vote in counted_votes
	lower(vote.vote) == "go"
	role_member(vote.user)
}

waiting_items contains [80, "GO/NOGO votes"] if count(go_voters) == 0

waiting_items contains [80, sprintf("GO votes %v of %v", [count(go_voters), cfg.votes.quorum])] if {
	count(go_voters) > 0
	count(go_voters) < cfg.votes.quorum
}

waiting_items contains [81, sprintf("GO vote by %s", [role.display])] if {
	count(go_voters) > 0
	some role in cfg.approvals.roles
	role.id in cfg.votes.veto_roles
	not role_voted_go(role)
}

role_voted_go(role) if {
	some user in go_voters
	input.teams[role.team][user] == true
}

# Every pull request merged into the release is linked to an issue that
# ZenHub knows.
links := input.links if is_object(input.links)

waiting_items contains [90, "ZenHub issue links"] if not links.merged_pulls_known == true

waiting_items contains [90, "ZenHub issue links"] if {
	some merged in links.merged_pulls
	some link in object.get(merged, "links", [])
	link.zenhub == null
}

reason_items contains [80, sprintf("#%v not linked to an issue", [merged.number])] if {
	links.merged_pulls_known == true
	some merged in links.merged_pulls
	count(object.get(merged, "links", [])) == 0
}

reason_items contains [80, sprintf("%s (#%v) not found in ZenHub", [link.ref, merged.number])] if {
	some merged in links.merged_pulls
	some link in object.get(merged, "links", [])
	link.zenhub.found == false
}

# The release checklist: the task list of the pull request body, item text
# to ticked. Required items match whatever their case.
checklist := input.checklist if is_object(input.checklist)

ticked contains lower(trim_space(item)) if {
	some item, done in checklist
	done == true
}

waiting_items contains [100, "release checklist"] if {
	count(object.get(cfg, ["checklist", "required"], [])) > 0
	count(object.get(input, "checklist", {})) == 0
}

waiting_items contains [101, sprintf("checklist: %s", [item])] if {
	count(checklist) > 0
	some item in cfg.checklist.required
	not lower(item) in ticked
}
