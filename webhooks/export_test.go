package webhooks

import "time"

// SetResyncEvery sets how often board streams compare their rows with the
// store, for a test; it returns the old value.
func SetResyncEvery(d time.Duration) time.Duration {
	old := resyncEvery
	resyncEvery = d
	return old
}
