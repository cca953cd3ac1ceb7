// Package jenkinsapi reads build evidence from Jenkins through gojenkins
// v1.1.0 (github.com/bndr/gojenkins) and converts it to gatekeeper.Build:
// result and revisions of a build, its Pipeline stages (Stage View API)
// mapped onto the seven release stages, its JUnit test counts and its code
// coverage (Coverage plugin, with Cobertura and JaCoCo as fallbacks).
//
// gojenkins ignores HTTP status codes and JSON decode errors, and never
// attaches the caller's context to its requests. The Client therefore hands
// gojenkins, for every call, an *http.Client whose transport carries the
// call's context and refuses any answer that is not usable evidence: a
// non-2xx status or, for /api/json, a body that is not JSON. A 404 is
// reported as ErrMissing, so that a report Jenkins does not have is
// recorded as missing and never read as an empty pass.
//
// How the head sha of a PR-merge build is found: GitHub Branch Source
// merges the pull request head into the target branch locally, so the
// commit Jenkins builds (GIT_COMMIT, BuildData lastBuiltRevision) is a merge
// commit GitHub does not know. The head is taken, in order, from the
// build's SCMRevisionAction (PullRequestSCMRevision.pullHash), from the
// "marked" revision of the git BuildData entry that built the merge, and,
// only for head and branch builds, from the built commit itself; failing
// all of these the head is unknown and the build counts for no head (the
// head_sha of a pipeline report is a claim, never a fact). Only the
// BuildData whose remoteUrls name the pull request's repository is used:
// a Pipeline run carries one per checkout, shared libraries included.
//
// The base a PR-merge build merged is the SCMRevisionAction revision's
// target.hash (scm-api's ChangeRequestSCMRevision.getTarget(); the plugin's
// baseHash is not exported). A build whose revision says merge: false (the
// HEAD strategy), or a plain PR-<n> build that does not say and whose built
// commit is the head or unknown, is a "head" build: it never counts, and
// its target is the pull request's base.sha, not a merged tip. The build
// is read with a ?tree= naming these fields: Stapler's depth pruning drops
// them at ?depth=1. A build whose causes include a Replay (ReplayCause) or
// a restart from a stage (RestartDeclarativePipelineCause) is
// gatekeeper.Build.Refused: it ran a script the repository's Jenkinsfile
// may not be, and is no evidence whatever its result.
//
// Source (Name "jenkins") is the gatekeeper.Source built on the Client: it
// completes notified builds, finds builds whose notification was lost,
// reads the image scan report the build archived (ParseTrivy, ParseSARIF)
// and keeps the base branch's last successful build as the baseline (the
// newest successful one before it when that build is Refused).
//
// # Webhook payloads
//
// ParseNotification reads what Jenkins posts to /webhooks/jenkins. The
// Notification plugin's JSON names the job by its URL; for a PR-merge job
// its scm.commit is the local merge commit and is kept as MergeSHA only,
// so that the head stays unknown until the API (or a pipeline report)
// tells it. A Jenkinsfile can post a pipeline report instead, or as well,
// from post { always { … } }, with the HTTP Request plugin:
//
//	{
//	  "kind": "pipeline-report",
//	  "job_url": "https://ci.example.com/job/acme/job/shop/job/PR-12-merge/",
//	  "build_number": 7,
//	  "head_sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
//	  "base_sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
//	  "merge_sha": "d27afa0805201322d846d7defc29b82c88d9b5ce",
//	  "result": "SUCCESS",
//	  "stages": [
//	    {"name": "Checkout", "status": "SUCCESS"},
//	    {"name": "Image scan", "status": "SUCCESS"}
//	  ],
//	  "image_digest": "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b",
//	  "chart_version": "shop-2-14-3-ec26c3e",
//	  "base_chart_version": "shop-2-14-2-f95f852",
//	  "tests": {"total": 42, "passed": 40, "failed": 0, "skipped": 2},
//	  "coverage": {"line": 88.44, "branch": 61.5},
//	  "vulnerabilities": {"critical": 0, "high": 0, "medium": 4, "low": 0, "unknown": 0}
//	}
//
// job_url is env.JOB_URL and build_number env.BUILD_NUMBER as a number;
// both are required. In a PR-merge build merge_sha is env.GIT_COMMIT,
// head_sha the merge's second parent (`git rev-parse HEAD^2`; env.CHANGE_ID
// is the pull request number) and base_sha its first (`git rev-parse
// HEAD^1`); in a PR-head build head_sha is env.GIT_COMMIT. result is
// currentBuild.currentResult. Every other field is optional; a field sent
// is validated: shas are 40 lower-case hex digits, result a Jenkins result
// (SUCCESS, UNSTABLE, FAILURE, ABORTED, NOT_BUILT), stage statuses the
// Stage View's (SUCCESS, FAILED, UNSTABLE, ABORTED, NOT_EXECUTED,
// IN_PROGRESS, PAUSED_PENDING_INPUT, SKIPPED), image_digest "sha256:" and
// 64 hex digits, tests must add up to total, coverage percentages are 0 to
// 100; unknown fields are refused. The chart version and image digest come
// only from a report: no Jenkins API exposes them. With JENKINS_URL they
// count only from a report whose merge_sha is the commit Jenkins built, so
// a PR-merge build's report must send it. base_chart_version is
// the chart version of the base branch as merged (the version master's
// chart has, e.g. read from its Chart.yaml at HEAD^1): the policy compares
// the two to tell a major, minor or release-number-only release, which an
// emergency release outside the window must be (minor by default).
//
// # Jenkins is the authority
//
// Anyone holding the webhook token (every Jenkinsfile author) can post a
// notification or a report, so both are claims: they say "look at build N
// of job J", nothing more. With JENKINS_URL the Source reads that build
// from the REST API, and only what the API states counts: result, phase,
// revisions, stages (keyed with the stage map in force), tests, coverage,
// and the scan report the build archived. The domain keeps every claim
// (gatekeeper.Build.Claims), checks it against the API's facts
// (gatekeeper.Contradictions), and takes the image digest, the chart
// version and the base chart version from the newest claim Jenkins does
// not contradict that names the commit Jenkins built (its merge_sha is the
// build's merge commit; the head for a build that merged nothing), and
// none of the three when such claims disagree on any of them; they count
// only for a build Jenkins reports finished and SUCCESS. A claim Jenkins
// contradicts is ignored and logged
// as suspicious ("suspicious Jenkins event"); a claimed build Jenkins does
// not have is Gone, and is asked about again only after a back-off that
// doubles, however often it is claimed again: made-up build numbers cost
// one read each and never crowd out the read of the current head's build
// (Source). A verified build is not verified for ever: the Source
// reads it again when a claim arrives after its last read
// (gatekeeper.Build.Recheck) and every SourceOptions.RecheckEvery (half
// the reconcile period), so that every reconcile asks Jenkins again.
//
// The pull request a read build counts for is the one its job path names,
// never the repository of a notification's scm url, which is a claim too.
// Each repository is built in one folder only (JobRepos): the folder
// GATEKEEPER_JENKINS_JOBS lists for it, or, for a repository it does not
// list, the organisation-folder convention job/<owner>/job/<repo>/ right
// under the Jenkins root. A copy of the multibranch project in any other
// folder builds no repository, and neither does an organisation folder
// nested deeper (job/github/job/acme/job/shop/) until it is listed. The
// gatekeeper is not silent about such a job: the first notification or
// report (ParseOptions.Logger) and the first Jenkins read
// (SourceOptions.Logger) of a pull request job in folders that place no
// repository log a warning naming the folder and GATEKEEPER_JENKINS_JOBS,
// once per folder path; the folders remembered are bounded, those named by
// claims apart from those Jenkins showed.
//
// Without JENKINS_URL nothing can verify a claim: the policy input says
// build.verification "none", the status says the build is unverified, and
// only release.build.trust_pipeline_report lets the claims count. Before a
// build is read, claims fail closed: a claimed sha is never replaced by
// another claim, and of two finished results the worse one stands.
//
// A notification for a job that builds no pull request is
// ErrNotPullRequest, and one for a job the gatekeeper cannot place (no
// repository for its folders, a URL naming no job) is ErrUnplaced: the
// webhook answers both 202 and ignores them. A build of a pull request the
// gatekeeper does not track is ignored too (gatekeeper.Service.Accept).
//
// A Client and a Source are safe for concurrent use.
package jenkinsapi
