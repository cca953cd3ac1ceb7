# The build evidence: the Jenkins PR-merge build of the head (stages, unit
# tests, coverage, vulnerability scan, Helm chart). Evidence not there yet is
# waited for; a report Jenkins says it does not have, or evidence that misses
# a threshold in data.release, fails the release. The people part
# (approvals, votes, links, checklist) is in people.rego, the release window
# in window.rego.
package gatekeeper

# head_build is the newest PR-merge build of the current head. BuildInput
# passes no other; the head is checked again so that another head's never
# counts.
head_build := input.build if {
	is_object(input.build)
	input.build.head_sha == pr.head_sha
}

# base_tip is the sha of the base branch's current tip (a push webhook to
# it, or GitHub read while reconciling), undefined while unknown.
base_tip := input.base_tip.sha if {
	is_string(input.base_tip.sha)
	input.base_tip.sha != ""
	input.base_tip.ref == pr.base_ref
}

# build is the head's build when it merged today's base: a build merged
# with an older base tested a merge result that is no longer what merging
# gives.
build := head_build if head_build.base_sha == base_tip

waiting_items contains [30, build_label] if not head_build

# A build of an older base (or of a base whose tip is not known yet) waits
# for one of today's.
waiting_items contains [30, sprintf("a PR-merge build on %v %v", [pr.base_ref, substring(base_tip, 0, 7)])] if {
	head_build
	not build
}

waiting_items contains [30, sprintf("the tip of %v", [pr.base_ref])] if {
	head_build
	not base_tip
}

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

# Jenkins is the authority for its builds. With the Jenkins REST API
# (JENKINS_URL) the facts count once the gatekeeper read them from it
# (build.verified, build.verification "jenkins"); until then they are what
# notifications and reports claim, which anyone holding the webhook token
# can send: "Jenkins to confirm build #57". Without the API
# (build.verification "none") nothing can verify a claim: the status says
# the build is unverified, and only build.trust_pipeline_report: true lets
# the claims count. Disputed claims (build.disputes) were already ignored
# by the gatekeeper: the facts are Jenkins' own.
waiting_items contains [30, unverified_message] if {
	not build_running
	not build.verified == true
	not trusted_claims
}

unverified_message := sprintf("Jenkins build #%v unverified (no JENKINS_URL)", [build.number]) if {
	build.verification == "none"
} else := sprintf("Jenkins to confirm build #%v", [build.number])

# Only an explicit "none" lets the switch apply: claims never count over a
# Jenkins the gatekeeper can ask.
trusted_claims if {
	trust_pipeline_report
	build.verification == "none"
}

trust_pipeline_report if object.get(cfg, ["build", "trust_pipeline_report"], false) == true

# Anything but true or false (absent: false) is a typo that must not pass
# unnoticed; trust_pipeline_report holds only for true.
reason_items contains [1, "policy data release.build.trust_pipeline_report is not true or false"] if {
	not is_boolean(object.get(cfg, ["build", "trust_pipeline_report"], false))
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

baseline_missing(name) if name in input.baseline.missing

waiting_items contains [42, "coverage of the base branch"] if {
	coverage
	not baseline_line
	not baseline_missing("coverage")
}

reason_items contains [42, sprintf("no coverage report for %v's Jenkins build #%v to compare coverage with", [pr.base_ref, input.baseline.number])] if {
	coverage
	not baseline_line
	baseline_missing("coverage")
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

waiting_items contains [50, "vulnerability scan"] if {
	not scan
	not report_missing("vulnerabilities")
}

reason_items contains [50, sprintf("no vulnerability scan report for Jenkins build #%v", [build.number])] if {
	not scan
	report_missing("vulnerabilities")
}

# count_suppressed: findings the report itself marks suppressed (a SARIF
# result whose suppressions are accepted) count like the others unless data
# says release.vulnerabilities.count_suppressed: false.
count_suppressed if not object.get(cfg, ["vulnerabilities", "count_suppressed"], true) == false

# suppressed(sev) is how many findings of severity sev the report marks
# suppressed (0 for a report without the field).
suppressed(sev) := n if {
	n := scan.suppressed[sev]
	is_number(n)
} else := 0

# scan_count(sev) is how many findings of severity sev count.
scan_count(sev) := scan[sev] + suppressed(sev) if count_suppressed

else := scan[sev]

# suppressed_note says how many of the counted findings are suppressed.
suppressed_note(sev) := sprintf(", %v suppressed", [suppressed(sev)]) if {
	count_suppressed
	suppressed(sev) > 0
} else := ""

reason_items contains [50, sprintf("%v critical vulnerabilities (max %v%s)", [scan_count("critical"), cfg.vulnerabilities.max_critical, suppressed_note("critical")])] if {
	scan_count("critical") > cfg.vulnerabilities.max_critical
}

reason_items contains [50, sprintf("%v high vulnerabilities (max %v%s)", [scan_count("high"), cfg.vulnerabilities.max_high, suppressed_note("high")])] if {
	scan_count("high") > cfg.vulnerabilities.max_high
}

# Helm chart version <module>-<major>-<minor>-<release>-<commit_sha>: the
# gatekeeper parses it (valid) and matches its sha to the commit built
# (pinned: the merge commit of a PR-merge build, or the head).
chart := build.chart if is_string(build.chart.version)

waiting_items contains [60, "Helm chart version"] if not chart

reason_items contains [60, malformed_chart(chart.version)] if {
	chart
	not chart.valid == true
}

# malformed_chart names a malformed version only when it is a plain word:
# the status is public, and a pipeline's text (a registry reference, a
# URL) may name internal hosts. The details page shows it whole.
malformed_chart(version) := sprintf("Helm chart version %s malformed", [version]) if {
	regex.match(`^[A-Za-z0-9._-]{1,64}$`, version)
} else := "Helm chart version malformed (see the details page)"

reason_items contains [60, sprintf("Helm chart %s is not for commit %s", [chart.version, head])] if {
	chart.valid == true
	not chart.pinned == true
}
