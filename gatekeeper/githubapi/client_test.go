package githubapi

import "testing"

// BenchmarkFreshGitHubClient measures the go-github client built for every
// attempt (see the package documentation), to weigh it against a round trip.
func BenchmarkFreshGitHubClient(b *testing.B) {
	c, err := New(Options{Token: testToken})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if c.github().BaseURL == nil {
			b.Fatal("no base URL")
		}
	}
}
