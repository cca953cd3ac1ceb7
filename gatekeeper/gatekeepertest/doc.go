// Package gatekeepertest holds small, hand-written fakes of the domain's
// interfaces for tests: an in-memory Store with the same semantics as the
// real ones, an Evaluator that returns a set decision, a Publisher that
// keeps what it was asked to post, and a Clock that only moves when told.
//
// Every fake records what it was asked, so that a test can assert on the
// calls as well as on the results. They are safe for concurrent use, since
// the Service calls them from its workers and webhook requests at once.
package gatekeepertest
