# Tests of the real data.yaml (data.release): is it well formed and sane?
#
# The rule tests run with the fixed settings of settings_test.rego, so a
# deliberate change here (a new coverage minimum, a person added to a role,
# other window times) leaves them passing. These tests do not care which
# numbers a release manager chose; they check that every setting is
# present, of the right type and in range, and that the names refer to
# each other, so that a typo fails a test named after the setting before
# the folder is deployed. The gatekeeper refuses to serve a revision whose
# tests fail.
package gatekeeper_test

import data.gatekeeper

# live is the release settings as data.yaml gives them.
live := data.release

# release_stage_keys are the release stages the Jenkins source maps stage
# names onto (gatekeeper.SeedStages): a stage key outside them never matches
# a stage, so the build would always fail "did not run".
release_stage_keys := {"clone", "build", "unit_tests", "scan", "push", "chart", "deploy"}

role_ids_of_live := {role.id | some role in live.approvals.roles}

percentage(x) if {
	is_number(x)
	x >= 0
	x <= 100
}

count_limit(x) if {
	is_number(x)
	x >= 0
	floor(x) == x
}

hh_mm(x) if regex.match(`^([01][0-9]|2[0-3]):[0-5][0-9]$`, x)

nonempty_string(x) if {
	is_string(x)
	trim_space(x) != ""
}

# Thresholds -----------------------------------------------------------------

test_data_yaml_coverage_min_is_a_percentage if percentage(live.coverage.min)

test_data_yaml_coverage_max_drop_is_points_from_0_to_100 if percentage(live.coverage.max_drop)

test_data_yaml_max_critical_is_a_count if count_limit(live.vulnerabilities.max_critical)

test_data_yaml_max_high_is_a_count if count_limit(live.vulnerabilities.max_high)

test_data_yaml_stable_min_coverage_is_a_percentage if percentage(live.channel.stable.min_coverage)

test_data_yaml_stable_max_medium_is_a_count if count_limit(live.channel.stable.max_medium)

# Build stages -----------------------------------------------------------------

test_data_yaml_has_the_seven_release_stages if {
	keys := [stage.key | some stage in live.build.stages]
	missing := release_stage_keys - {k | some k in keys}
	missing == set()
	unknown := {k | some k in keys} - release_stage_keys
	unknown == set()
	count(keys) == count(release_stage_keys) # each once
}

test_data_yaml_stages_have_a_display if {
	every stage in live.build.stages {
		nonempty_string(stage.display)
	}
}

test_data_yaml_stage_jenkins_names_are_lists_of_names if {
	every stage in live.build.stages {
		names := object.get(stage, "jenkins", [])
		is_array(names)
		every name in names {
			nonempty_string(name)
		}
	}
}

test_data_yaml_no_jenkins_stage_name_is_in_two_stages if {
	named := [name | some stage in live.build.stages; some name in object.get(stage, "jenkins", [])]
	twice := {name | some i, name in named; some j, other in named; i < j; other == name}
	twice == set()
}

# Roles ----------------------------------------------------------------------

test_data_yaml_has_one_to_eight_roles if {
	n := count(live.approvals.roles)
	n >= 1
	n <= 8
}

test_data_yaml_role_ids_are_unique if {
	count(role_ids_of_live) == count(live.approvals.roles)
}

test_data_yaml_every_role_has_an_id_and_a_display if {
	every role in live.approvals.roles {
		regex.match(`^[a-z][a-z0-9_]*$`, role.id)
		nonempty_string(role.display)
	}
}

test_data_yaml_every_role_has_a_team_or_users if {
	every role in live.approvals.roles {
		has_team_or_users(role)
	}
}

has_team_or_users(role) if is_string(role.team)

has_team_or_users(role) if count(object.get(role, "users", [])) > 0

test_data_yaml_role_teams_are_org_slash_team if {
	every role in live.approvals.roles {
		team := object.get(role, "team", "org/absent")
		regex.match(`^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$`, team)
	}
}

test_data_yaml_role_users_are_lists_of_logins if {
	every role in live.approvals.roles {
		users := object.get(role, "users", [])
		is_array(users)
		every user in users {
			regex.match(`^[A-Za-z0-9][A-Za-z0-9_-]*$`, user)
		}
	}
}

test_data_yaml_role_required_is_true_or_false if {
	every role in live.approvals.roles {
		is_boolean(object.get(role, "required", true))
	}
}

test_data_yaml_quorum_roles_are_roles if {
	count(live.votes.quorum_roles) > 0
	every id in live.votes.quorum_roles {
		id in role_ids_of_live
	}
}

test_data_yaml_lift_roles_is_a_list if {
	is_array(live.votes.lift_roles)
	every id in live.votes.lift_roles {
		is_string(id)
	}
}

test_data_yaml_veto_roles_are_roles if {
	is_array(live.votes.veto_roles)
	every id in live.votes.veto_roles {
		id in role_ids_of_live
	}
}

test_data_yaml_emergency_roles_are_roles if {
	is_array(live.emergency.extra_approval_roles)
	every id in live.emergency.extra_approval_roles {
		id in role_ids_of_live
	}
}

# An emergency's extra roles are roles a normal release does not need:
# otherwise the approvals every release has would open the window.
test_data_yaml_emergency_roles_are_not_needed_by_every_release if {
	needed := {role.id | some role in live.approvals.roles; object.get(role, "required", true) != false}
	every id in live.emergency.extra_approval_roles {
		not id in needed
	}
}

test_data_yaml_emergency_release_kinds_are_kinds if {
	is_array(live.emergency.release_kinds)
	every kind in live.emergency.release_kinds {
		kind in {"major", "minor", "release"}
	}
}

# Switches, lists and names ----------------------------------------------------

test_data_yaml_switches_are_true_or_false if {
	is_boolean(live.approvals.one_person_one_role)
	is_boolean(live.links.verify_in_zenhub)
	is_boolean(live.window.enforce)
}

# Only true trusts a pipeline report; a "yes" would fail every release.
test_data_yaml_trust_pipeline_report_is_true_or_false if is_boolean(live.build.trust_pipeline_report)

test_data_yaml_checklist_items_are_names if {
	is_array(live.checklist.required)
	every item in live.checklist.required {
		nonempty_string(item)
	}
}

test_data_yaml_emergency_label_is_a_name if nonempty_string(live.emergency.label)

# Release window ---------------------------------------------------------------

test_data_yaml_window_times_are_hh_mm if {
	hh_mm(live.window.go_nogo)
	hh_mm(live.window.release)
	hh_mm(live.window.close)
}

test_data_yaml_window_release_is_before_close if release_before_close(live.window)

# release_before_close compares well-formed times only ("HH:MM" strings
# order as the times do); test_data_yaml_window_times_are_hh_mm judges the
# others.
release_before_close(window) if not hh_mm(window.release)

release_before_close(window) if not hh_mm(window.close)

release_before_close(window) if window.release < window.close

test_data_yaml_window_timezone_is_known if {
	# time.clock fails on a zone name the time zone database lacks.
	time.clock([0, live.window.timezone])
}

test_data_yaml_window_zone_label_is_a_name if nonempty_string(live.window.zone_label)

test_data_yaml_window_weekdays_are_weekdays if {
	count(live.window.weekdays) > 0
	every day in live.window.weekdays {
		day in {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
	}
	count(live.window.weekdays) == count({d | some d in live.window.weekdays})
}

# All of it ------------------------------------------------------------------

# The policy's own checks of its settings (decision.rego, window.rego) find
# nothing wrong on a complete, passing input. Last, so that a status naming
# the first failing tests names the specific ones above first.
test_data_yaml_gives_no_policy_data_reasons if {
	reasons := gatekeeper.reasons with input as passing
	problems := [r | some r in reasons; startswith(r, "policy data")]
	problems == []
}
