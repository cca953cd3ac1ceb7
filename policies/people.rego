# The people part of the release: approvals by role, GO/NOGO votes, issue
# links (ZenHub) and the release checklist. Who holds a role comes from
# data.release.approvals.roles and the team memberships the gatekeeper
# checked (input.teams); a membership not checked yet is waited for, never
# silently read as "not a member".
package gatekeeper

# roles are the release roles, in the order of data.yaml.
roles := object.get(cfg, ["approvals", "roles"], [])

role_ids := {role.id | some role in roles}

role_name(role) := object.get(role, "display", object.get(role, "id", "?"))

# teams is team → user → active membership; a user not listed was not
# checked yet.
default teams := {}

teams := input.teams if is_object(input.teams)

# role_holders maps each role to the people who hold it: those listed in
# its users, and the active members of its team. It is built once per
# evaluation; who holds a role is then one lookup.
role_holders := {role: holders |
	some role in roles
	members := {user | some user, active in teams[role.team]; active == true}
	holders := role_users[role] | members
}

# role_users maps each role to the people its users list (policy data alone).
role_users := {role: {user | some user in object.get(role, "users", [])} | some role in roles}

# all_holders are the people who hold any role.
all_holders := {user | some users in role_holders; some user in users}

# shared_holders holds when someone holds two of the roles (or a role is
# listed twice). Only then can a person count for two roles, so that one
# person, one role (shortfall) has anything to check.
shared_holders if sum([count(role_holders[role]) | some role in roles]) > count(all_holders)

# holder holds when user holds role: listed in its users, or an active
# member of its team.
holder(role, user) if user in role_holders[role]

# unchecked holds when whether user holds role depends on a membership
# GitHub has not been asked about yet. A bot is never unchecked: GitHub
# does not let a "name[bot]" account (a GitHub App, GitHub Actions) join a
# team, so the gatekeeper never asks, and waiting for the answer would
# hold the release for ever; a bot holds a role only when its users list
# names it.
unchecked(role, user) if {
	not user in object.get(role, "users", [])
	is_string(role.team)
	not is_bot(user)
	object.get(teams, [role.team, user], null) == null
}

# is_bot holds for a GitHub App's or GitHub Actions' account, "name[bot]".
is_bot(user) if endswith(user, "[bot]")

holds_a_role(user) if user in all_holders

unchecked_somewhere(user) if {
	some role in roles
	unchecked(role, user)
}

# roles_of lists the names of the roles user holds.
roles_of(user) := [role_name(role) | some role in roles; holder(role, user)]

# one_person_one_role: a person counts for one role only (default true).
one_person_one_role if not object.get(cfg, ["approvals", "one_person_one_role"], true) == false

# Approvals --------------------------------------------------------------

# approval_roles are the roles that must approve: every role not marked
# `required: false`, and with the emergency label the extra roles.
approval_roles := normal_approval_roles if {
	count(emergency_roles) == 0
} else := [role |
	some role in roles
	approval_required(role)
]

# normal_approval_roles are the roles every release needs approvals from.
normal_approval_roles := [role | some role in roles; approval_required_normally(role)]

approval_required(role) if approval_required_normally(role)

approval_required(role) if role.id in emergency_roles

approval_required_normally(role) if not object.get(role, "required", true) == false

# current_approvals are the users whose latest review approves the current
# head, the author excepted (undefined author: nobody counts).
current_approvals contains review.user if {
	some review in input.reviews
	review.state == "APPROVED"
	review.current == true
	review.user != pr.author
}

# late_approvals are the current approvals given after the emergency label
# was added: only they count for an emergency role. An approval given
# before the label agreed to a normal release, not to an emergency.
late_approvals contains review.user if {
	some review in input.reviews
	review.state == "APPROVED"
	review.current == true
	review.user != pr.author
	time.parse_rfc3339_ns(review.submitted_at) > emergency_label_ns
}

approvers(role) := current_approvals & role_holders[role] if {
	not role.id in emergency_roles
} else := late_approvals & role_holders[role] if {
	role.id in emergency_roles
}

unapproved := [role |
	some role in approval_roles
	count(approvers(role)) == 0
]

# approval_note explains why a role without an approval has none yet.
approval_note(role) := sprintf(" (%s approved before the %s label)", [users[0], emergency_label_name]) if {
	role.id in emergency_roles
	users := sort({user |
		some user in current_approvals
		not user in late_approvals
		holder(role, user)
	})
	count(users) > 0
} else := sprintf(" (checking %s's team membership)", [users[0]]) if {
	users := sort({user | some user in current_approvals; unchecked(role, user)})
	count(users) > 0
} else := sprintf(" (%s approved an older commit)", [users[0]]) if {
	users := sort({review.user |
		some review in input.reviews
		review.state == "APPROVED"
		object.get(review, "current", false) != true
		review.user != pr.author
		holder(role, review.user)
	})
	count(users) > 0
} else := " (the author's approval does not count)" if {
	some review in input.reviews
	review.state == "APPROVED"
	review.user == pr.author
	holder(role, review.user)
} else := ""

# Roles without an approval are listed together when the same note explains
# them: "approvals: SRE, management", "approval by QA (alice approved an
# older commit)".
waiting_items contains [70, missing_message("approval by", "approvals:", names, note)] if {
	some note in {approval_note(role) | some role in unapproved; not role.id in emergency_roles}
	names := [role_name(role) |
		some role in unapproved
		not role.id in emergency_roles
		approval_note(role) == note
	]
}

waiting_items contains [69, sprintf("emergency approval by %s%s", [role_name(role), approval_note(role)])] if {
	some role in unapproved
	role.id in emergency_roles
}

# A holder whose latest review requests changes blocks until they approve
# again, whichever commit they reviewed.
reason_items contains [70, sprintf("changes requested by %s (%s)", [review.user, concat(", ", names)])] if {
	some review in input.reviews
	review.state == "CHANGES_REQUESTED"
	names := roles_of(review.user)
	count(names) > 0
}

# Whichever commit they reviewed: a request for changes blocks until the
# reviewer approves again, so an unchecked one must be checked first.
waiting_items contains [70, sprintf("checking %s's team membership (changes requested)", [review.user])] if {
	some review in input.reviews
	review.state == "CHANGES_REQUESTED"
	not holds_a_role(review.user)
	unchecked_somewhere(review.user)
}

# One person, one role: the approved roles need distinct approvers.
# approval_gap is the group of roles short of people (see shortfall).
approval_gap := shortfall([[role_name(role), approvers(role)] |
	some role in approval_roles
	count(approvers(role)) > 0
]) if {
	one_person_one_role
	shared_holders
}

waiting_items contains [71, shortfall_message(gap, "another approver", "more approvers")] if {
	gap := approval_gap
}

# shortfall checks Hall's condition on sets, an array of [name, people]
# pairs: the roles can be given distinct people only if every subset of k
# roles has at least k people between them. It is undefined when they can;
# otherwise it is the subset short of the most people (the fewest roles, the
# earliest in data.yaml, among equals) as [-missing, size, mask, names,
# people]. It enumerates the 2^n - 1 subsets of the n roles as bit masks;
# data validation keeps n small. When nobody is in two of the sets, every
# role has its own person and nothing is enumerated.
shortfall(sets) := sort(gaps)[0] if {
	n := count(sets)
	n > 0
	sum([count(set[1]) | some set in sets]) > count(union({set[1] | some set in sets}))
	gaps := [[0 - missing, count(idx), mask, names, people] |
		some mask in numbers.range(1, bits.lsh(1, n) - 1)
		idx := [i | some i in numbers.range(0, n - 1); bits.and(mask, bits.lsh(1, i)) != 0]
		people := sort(union({sets[i][1] | some i in idx}))
		missing := count(idx) - count(people)
		missing > 0
		names := [sets[i][0] | some i in idx]
	]
	count(gaps) > 0
}

# Votes -------------------------------------------------------------------

# A valid vote: cast on the current head and not refused (a NOGO without a
# reason is refused).
valid_vote(vote) if {
	vote.current == true
	object.get(vote, "refused", "") == ""
}

# valid_votes are the valid votes, in the order of input.votes.
valid_votes := [vote |
	some vote in input.votes
	vote.current == true
	object.get(vote, "refused", "") == ""
]

# counted_votes are the valid votes of holders of a release role.
counted_votes contains vote if {
	some vote in valid_votes
	vote.user in all_holders
}

veto_ids := {id | some id in object.get(cfg, ["votes", "veto_roles"], [])}

veto_roles_of(user) := [role_name(role) |
	some role in roles
	role.id in veto_ids
	holder(role, user)
]

# NOGOs ------------------------------------------------------------------

# A NOGO is about the release, not a commit: it stands across pushes until
# its author takes it back (a later /go, or /withdraw) or a holder of a lift
# role (votes.lift_roles) lifts it with a reason (/lift @user <reason>).
# input.nogos lists the NOGOs that stand, whichever head they were cast on,
# each with the lifts that name its author after it; an input without it
# has only its current NOGO votes.
default nogos_in := []

nogos_in := input.nogos if is_array(input.nogos)

default lifts_in := []

lifts_in := input.lifts if is_array(input.lifts)

nogo_ids := {nogo.comment_id | some nogo in nogos_in}

# standing holds the NOGOs not lifted, by anyone so far.
standing contains nogo if {
	some nogo in nogos_in
	not lifted(nogo)
}

standing contains vote if {
	some vote in valid_votes
	lower(vote.vote) == "nogo"
	not vote.comment_id in nogo_ids
}

# lift_roles are the roles whose holders may lift a NOGO, in the order of
# votes.lift_roles. An id that names no role lets nobody lift.
lift_roles := [role |
	some id in lift_role_ids
	some role in roles
	role.id == id
]

default lift_role_ids := []

lift_role_ids := cfg.votes.lift_roles if is_array(cfg.votes.lift_roles)

may_lift(user) if {
	some role in lift_roles
	holder(role, user)
}

# lift_unchecked holds while whether user may lift depends on a membership
# GitHub has not been asked about yet.
lift_unchecked(user) if {
	not may_lift(user)
	some role in lift_roles
	unchecked(role, user)
}

# A NOGO is lifted by a lift from a holder of a lift role.
lifted(nogo) if {
	some lift in object.get(nogo, "lifts", [])
	may_lift(lift.user)
}

# counted_nogos are the standing NOGOs of holders of a release role.
counted_nogos contains nogo if {
	some nogo in standing
	holds_a_role(nogo.user)
}

# nogo_where says which commit a NOGO of an older head was cast on.
nogo_where(nogo) := "" if {
	object.get(nogo, "current", false) == true
} else := sprintf(" (on %s)", [substring(object.get(nogo, "head_sha", ""), 0, 7)])

# Any counted NOGO fails the release; a veto role's NOGO says so.
reason_items contains [74, sprintf("%s veto by %s: %s%s", [concat(", ", vetoes), nogo.user, clip(nogo.reason, 60), nogo_where(nogo)])] if {
	some nogo in counted_nogos
	vetoes := veto_roles_of(nogo.user)
	count(vetoes) > 0
}

reason_items contains [75, sprintf("NOGO by %s (%s): %s%s", [nogo.user, concat(", ", roles_of(nogo.user)), clip(nogo.reason, 60), nogo_where(nogo)])] if {
	some nogo in counted_nogos
	count(veto_roles_of(nogo.user)) == 0
}

# A NOGO by someone whose roles are not known yet may still fail the
# release: wait for GitHub's answer.
waiting_items contains [75, sprintf("NOGO by %s (checking team membership)", [nogo.user])] if {
	some nogo in standing
	not holds_a_role(nogo.user)
	unchecked_somewhere(nogo.user)
}

# A lift by someone whose roles are not known yet: the NOGO stands until
# GitHub answers.
waiting_items contains [74, sprintf("checking %s's team membership (lift of %s's NOGO)", [lift.user, nogo.user])] if {
	some nogo in standing
	some lift in object.get(nogo, "lifts", [])
	lift_unchecked(lift.user)
}

attached_lifts := {lift.comment_id | some nogo in nogos_in; some lift in object.get(nogo, "lifts", [])}

lift_refusal := sprintf("only %s may lift a NOGO", [or_list(names)]) if {
	names := [role_name(role) | some role in lift_roles]
	count(names) > 0
} else := "no role may lift a NOGO (policy data release.votes.lift_roles names none)"

# The quorum: each quorum role needs a current GO by a holder.
quorum_roles := [role |
	some id in object.get(cfg, ["votes", "quorum_roles"], [])
	some role in roles
	role.id == id
]

# go_users are the people with a counted GO vote.
go_users := {vote.user | some vote in counted_votes; lower(vote.vote) == "go"}

go_voters(role) := go_users & role_holders[role]

no_go := [role |
	some role in quorum_roles
	count(go_voters(role)) == 0
]

go_note(role) := sprintf(" (checking %s's team membership)", [users[0]]) if {
	users := sort({vote.user |
		some vote in valid_votes
		lower(vote.vote) == "go"
		unchecked(role, vote.user)
	})
	count(users) > 0
} else := ""

waiting_items contains [80, missing_message("GO vote by", "GO votes:", names, note)] if {
	some note in {go_note(role) | some role in no_go}
	names := [role_name(role) | some role in no_go; go_note(role) == note]
}

# go_gap is the group of quorum roles short of GO voters (see shortfall),
# computed once per evaluation, and only when someone may count for two
# quorum roles. passes.rego reads it too.
go_gap := shortfall([[role_name(role), go_voters(role)] |
	some role in quorum_roles
	count(go_voters(role)) > 0
]) if {
	one_person_one_role
	shared_go_holders
}

waiting_items contains [81, shortfall_message(gap, "another GO vote", "more GO votes")] if {
	gap := go_gap
}

# shared_go_holders holds when a person may count for two quorum roles: one
# holds two roles, or the quorum names a role twice.
shared_go_holders if shared_holders

shared_go_holders if quorum_repeats

quorum_repeats if count(quorum_roles) > count({role | some role in quorum_roles})

# vote_verdicts tell each voter on the current head once whether their vote
# counted: counted (a valid vote by a holder), or refused with what to do
# about it. A voter whose memberships are still being checked gets none
# yet. Ordered by comment id.
vote_verdicts := [item[1] | some item in sort(verdict_items)]

verdict_items contains [vote.comment_id, verdict(vote, "refused", vote.refused)] if {
	some vote in input.votes
	vote.current == true
	object.get(vote, "refused", "") != ""
}

verdict_items contains [vote.comment_id, {"comment_id": vote.comment_id, "user": vote.user, "verdict": "counted", "why": ""}] if {
	some vote in counted_votes
}

verdict_items contains [vote.comment_id, verdict(vote, "refused", sprintf("only %s vote", [and_list([role_name(role) | some role in roles])]))] if {
	some vote in valid_votes
	not holds_a_role(vote.user)
	not unchecked_somewhere(vote.user)
}

# Each lift on the current head, and each lift of a standing NOGO whatever
# its head, gets a verdict too: counted when it lifts a standing NOGO,
# refused with why otherwise.
judged(lift) if lift.current == true

judged(lift) if lift.comment_id in attached_lifts

verdict_items contains [lift.comment_id, verdict(lift, "refused", lift.refused)] if {
	some lift in lifts_in
	lift.current == true
	object.get(lift, "refused", "") != ""
}

verdict_items contains [lift.comment_id, verdict(lift, "refused", lift_refusal)] if {
	some lift in lifts_in
	judged(lift)
	object.get(lift, "refused", "") == ""
	not may_lift(lift.user)
	not lift_unchecked(lift.user)
}

verdict_items contains [lift.comment_id, verdict(lift, "counted", sprintf("lifted %s's NOGO", [nogo.user]))] if {
	some lift in lifts_in
	object.get(lift, "refused", "") == ""
	may_lift(lift.user)
	some nogo in nogos_in
	some attached in object.get(nogo, "lifts", [])
	attached.comment_id == lift.comment_id
}

verdict_items contains [lift.comment_id, verdict(lift, "refused", sprintf("%s has no NOGO standing", [lift.target]))] if {
	some lift in lifts_in
	lift.current == true
	object.get(lift, "refused", "") == ""
	may_lift(lift.user)
	not lift.comment_id in attached_lifts
}

verdict(vote, word, why) := {"comment_id": vote.comment_id, "user": vote.user, "verdict": word, "why": why}

# Issue links ---------------------------------------------------------------

default links := {"issues": [], "merged_pulls": [], "merged_pulls_known": false}

links := input.links if is_object(input.links)

verify_in_zenhub if not object.get(cfg, ["links", "verify_in_zenhub"], true) == false

# A release that links no issue yet waits for someone to add the links: it
# is evidence still to come, like an approval, not a measurement that failed.
waiting_items contains [85, "link the release to its ZenHub issues (#123 or a ZenHub link in the description)"] if {
	pr
	count(object.get(links, "issues", [])) == 0
}

# linked holds [link, where] for every issue link: the release pull
# request's own (where "") and those of the merged pull requests.
linked contains [link, ""] if some link in object.get(links, "issues", [])

linked contains [link, sprintf(" (#%v)", [merged.number])] if {
	some merged in object.get(links, "merged_pulls", [])
	some link in object.get(merged, "links", [])
}

unverified contains link.ref if {
	verify_in_zenhub
	some [link, _] in linked
	object.get(link, "zenhub", null) == null
}

zenhub_configured if object.get(object.get(input, "sources", {}), "zenhub", null) != null

waiting_items contains [90, "ZenHub verification (ZenHub not configured)"] if {
	count(unverified) > 0
	not zenhub_configured
}

waiting_items contains [90, sprintf("ZenHub verification of %s", [ref])] if {
	zenhub_configured
	[ref] := [r | some r in unverified]
}

waiting_items contains [90, sprintf("ZenHub verification of %d issues", [count(unverified)])] if {
	zenhub_configured
	count(unverified) > 1
}

reason_items contains [86, sprintf("%v%s not found in ZenHub", [link.ref, where])] if {
	verify_in_zenhub
	some [link, where] in linked
	link.zenhub.found == false
}

waiting_items contains [90, "merged pull requests of the release"] if not links.merged_pulls_known == true

reason_items contains [86, sprintf("#%v %s has no issue link", [merged.number, clip(object.get(merged, "title", ""), 40)])] if {
	links.merged_pulls_known == true
	some merged in links.merged_pulls
	count(object.get(merged, "links", [])) == 0
}

# Checklist -----------------------------------------------------------------

# checklist is the task list of the pull request description: item text →
# ticked. Required items match whatever their case.
default checklist := {}

checklist := input.checklist if is_object(input.checklist)

required_items := object.get(cfg, ["checklist", "required"], [])

ticked contains lower(trim_space(item)) if {
	some item, done in checklist
	done == true
}

waiting_items contains [100, "release checklist in the description"] if {
	count(required_items) > 0
	count(checklist) == 0
}

# required_checks are the required items with the words they match.
required_checks := [[item, lower(trim_space(item))] | some item in required_items]

unticked := [item |
	some [item, words] in required_checks
	not words in ticked
]

waiting_items contains [101, sprintf("checklist: tick %s", [concat(", ", unticked)])] if {
	count(checklist) > 0
	count(unticked) > 0
}

# Messages ------------------------------------------------------------------

# shortfall_message: "another approver for SRE or QA (alice counts for one
# role)".
shortfall_message(gap, one, many) := sprintf("%s for %s (%s)", [one, or_list(gap[3]), counts_for(gap[4])]) if {
	gap[0] == -1
} else := sprintf("%d %s for %s (%s)", [0 - gap[0], many, or_list(gap[3]), counts_for(gap[4])])

# missing_message: "approval by QA", "approvals: SRE, QA (checking bob's
# team membership)".
missing_message(one, many, names, note) := sprintf("%s %s%s", [one, names[0], note]) if {
	count(names) == 1
} else := sprintf("%s %s%s", [many, concat(", ", names), note])

counts_for(people) := sprintf("%s counts for one role", people) if {
	count(people) == 1
} else := sprintf("%s count for %d roles", [concat(", ", people), count(people)])

or_list(names) := names[0] if {
	count(names) == 1
} else := sprintf("%s or %s", [concat(", ", array.slice(names, 0, count(names) - 1)), names[count(names) - 1]])

and_list(names) := names[0] if {
	count(names) == 1
} else := sprintf("%s and %s", [concat(", ", array.slice(names, 0, count(names) - 1)), names[count(names) - 1]])

# clip shortens text a person wrote to n characters.
clip(text, n) := sprintf("%s…", [substring(text, 0, n - 1)]) if {
	count(text) > n
} else := text
