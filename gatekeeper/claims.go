package gatekeeper

import (
	"fmt"
	"slices"
)

// A webhook delivery is signed with the one webhook secret, which every
// admin of every repository whose hook points at the gatekeeper knows: what
// it says of reviews and comments is a claim, not GitHub's word. When
// GitHub can be read (a token or an App), an approval or a command that can
// open the gate (a /go, /withdraw or lift) counts only once GitHub's REST
// API has shown it (Confirmed), and never when GitHub contradicts it
// (Disputed). A NOGO and a review that is not an approval only close the
// gate and count at once.

// Awaited reports whether r is a claim that counts only once GitHub has
// confirmed it: an approval GitHub has not shown and not contradicted.
func (r Review) Awaited() bool {
	return !r.Confirmed && r.Disputed == "" && NormalizeReviewState(r.State) == "APPROVED"
}

// Awaited reports whether c is a claim that counts only once GitHub has
// confirmed it: a command other than a NOGO, not deleted, that GitHub has
// not shown and not contradicted.
//
// A NOGO whose deletion a webhook claims is awaited too: it counts as
// standing until GitHub confirms the deletion (Counted keeps it).
func (c Comment) Awaited() bool {
	if c.DeletionClaimed != "" && !c.Deleted {
		return true
	}
	if c.Confirmed || c.Disputed != "" || c.Deleted {
		return false
	}
	cmd, ok := c.command()
	return ok && cmd.Kind != "nogo"
}

// Counted returns the evidence as it counts for the decision. With confirm
// false (GitHub cannot be read: a dry run) that is ev itself, claims and
// all. With confirm true it is a copy without the awaited claims and
// without anything GitHub contradicted; the rest is shared with ev, so the
// copy must not be changed.
//
// A NOGO whose deletion only a webhook claims stands while confirm is true;
// with confirm false the claim counts like the others (the copy has it
// deleted).
func (ev *Evidence) Counted(confirm bool) *Evidence {
	if !confirm {
		if !slices.ContainsFunc(ev.Comments, func(c Comment) bool { return c.DeletionClaimed != "" }) {
			return ev
		}
		out := *ev
		out.Comments = slices.Clone(ev.Comments)
		for i := range out.Comments {
			if c := &out.Comments[i]; c.DeletionClaimed != "" {
				c.Deleted = true
			}
		}
		return &out
	}
	out := *ev
	out.Reviews = slices.DeleteFunc(slices.Clone(ev.Reviews), func(r Review) bool { return r.Disputed != "" || r.Awaited() })
	out.Comments = slices.DeleteFunc(slices.Clone(ev.Comments), func(c Comment) bool {
		return c.Disputed != "" || (c.Awaited() && c.DeletionClaimed == "")
	})
	return &out
}

// AwaitedClaims lists, one line each, the claims about the current head
// that wait for GitHub to confirm them ("GitHub to confirm qa-carol's
// approval"), in the evidence's order.
func (ev *Evidence) AwaitedClaims() []string {
	head := ev.HeadSHA()
	var out []string
	for _, r := range ev.Reviews {
		if r.Awaited() && (r.CommitID == "" || r.CommitID == head) {
			out = append(out, fmt.Sprintf("GitHub to confirm %s's approval", r.User))
		}
	}
	for _, c := range ev.Comments {
		if c.Awaited() && c.DeletionClaimed != "" {
			what := "deleted"
			if c.EditClaimed {
				what = "edited away"
			}
			out = append(out, fmt.Sprintf("GitHub to confirm %s %s their NOGO", c.User, what))
		} else if c.Awaited() {
			cmd, _ := c.command()
			out = append(out, fmt.Sprintf("GitHub to confirm %s's /%s", c.User, cmd.Kind))
		}
	}
	return out
}
