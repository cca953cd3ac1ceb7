# Attacks on the policy from outside: text that reaches the decision from
# Jenkins must not carry internal host names or URLs into the commit status
# description, which GitHub shows to everybody who can see the commit.
package gatekeeper_test

import data.gatekeeper

# A pipeline that sets CHART_VERSION from its registry reference (a
# mistake) reports it whole: the reason names a malformed version without
# repeating the registry's host.
test_malformed_chart_version_names_no_host if {
	version := "oci://registry.corp.internal:5000/charts/hello-world:2.14.3"
	d := gatekeeper.decision with input as with_section("build", object.union(object.remove(build, ["chart"]), {"chart": {"version": version, "valid": false, "pinned": false}}))
		with data.release as fixed_release
	d.state == "failure"
	d.reasons == ["Helm chart version malformed (see the details page)"]
}

# A plain malformed version is still named.
test_malformed_chart_version_plain_is_named if {
	d := gatekeeper.decision with input as with_section("build", object.union(object.remove(build, ["chart"]), {"chart": {"version": "hello world 2.14", "valid": false, "pinned": false}}))
		with data.release as fixed_release
	d.reasons == ["Helm chart version malformed (see the details page)"]
}
