// Package storetest is the conformance suite every gatekeeper.Store passes.
//
// An implementation's tests call Run with a function that opens a fresh,
// empty store, and RunDurability with one that opens the same storage
// again after a Close:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, clock gatekeeper.Clock) gatekeeper.Store {
//			s, err := Open(filepath.Join(t.TempDir(), "gk.db"), WithClock(clock))
//			...
//		})
//	}
//
// The suite tests only what the Store interface documents, so that every
// implementation can pass it; what is specific to one store (file locks,
// connection errors) stays in that store's own tests. The times recorded
// for deliveries come from the clock the suite passes to the opener, which
// lets ForgetDeliveries be tested without sleeping.
package storetest
