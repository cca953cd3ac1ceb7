package boltstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// ErrLocked is returned by Open when another process (or another Store in
// this one) holds the file, and the lock was not released within the lock
// timeout.
var ErrLocked = errors.New("store file is locked by another process")

// Bucket names; see doc.go for what each holds.
var (
	bucketEvidence   = []byte("evidence")
	bucketHeads      = []byte("heads")
	bucketIndex      = []byte("index")
	bucketQueue      = []byte("queue")
	bucketDecisions  = []byte("decisions")
	bucketDeliveries = []byte("deliveries")
	bucketDelivered  = []byte("delivered")
	// bucketVersions holds each pull request's evidence Version, so that
	// the cache can be checked without decoding the evidence.
	bucketVersions = []byte("versions")
	// bucketLog holds each pull request's evidence log, an entry per key,
	// so that a delivery writes its entry and not the whole log.
	bucketLog = []byte("log")
	// bucketHealth holds the time of the last Ping, written so that a
	// store that reads but cannot write (a full disk) is not ready.
	bucketHealth = []byte("health")
)

// Defaults for the options.
const (
	// DefaultLockTimeout is how long Open waits for another holder of the
	// file to let go.
	DefaultLockTimeout = 2 * time.Second
	// DefaultMaxBatchSize is how many Records one group commit takes at
	// most.
	DefaultMaxBatchSize = 1000
)

// Store is a gatekeeper.Store in a bbolt file. It is safe for concurrent use;
// only one Store (in any process) can hold a file at a time.
type Store struct {
	db       *bolt.DB
	path     string
	clock    gatekeeper.Clock
	maxBatch int

	// requests carries Records and Settles to commitLoop; stopped is
	// closed when commitLoop has returned. mu guards closed and the sends
	// on requests, so that Close never closes the channel under a sender.
	requests chan *recordReq
	stopped  chan struct{}
	mu       sync.RWMutex
	closed   bool

	cache evidenceCache

	// LocalLeases makes the Store a gatekeeper.Leaser: one process
	// alone holds a bbolt file, so its leases live in memory.
	*gatekeeper.LocalLeases
}

var (
	_ gatekeeper.Store  = (*Store)(nil)
	_ gatekeeper.Leaser = (*Store)(nil)
)

// Option configures Open.
type Option func(*options)

type options struct {
	clock       gatekeeper.Clock
	lockTimeout time.Duration
	batchSize   int
}

// WithClock sets the clock that stamps recorded deliveries (the times
// ForgetDeliveries compares against). The default is gatekeeper.SystemClock.
func WithClock(c gatekeeper.Clock) Option {
	return func(o *options) { o.clock = c }
}

// WithLockTimeout sets how long Open waits for the file lock before it
// gives up with ErrLocked. It must be positive: bbolt would wait forever on
// zero.
func WithLockTimeout(d time.Duration) Option {
	return func(o *options) { o.lockTimeout = d }
}

// WithMaxBatchSize sets how many Records one group commit takes at most
// (default DefaultMaxBatchSize). A group never waits to fill up: it takes
// whatever Records are waiting when the previous commit ends.
func WithMaxBatchSize(n int) Option {
	return func(o *options) { o.batchSize = n }
}

// Open opens (creating it and its parent directory when absent) the store
// file at path. It fails with an error wrapping ErrLocked when the file is
// held by another Store for longer than the lock timeout.
func Open(path string, opts ...Option) (*Store, error) {
	o := options{
		clock:       gatekeeper.SystemClock{},
		lockTimeout: DefaultLockTimeout,
		batchSize:   DefaultMaxBatchSize,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.lockTimeout <= 0 {
		return nil, fmt.Errorf("opening bolt store %s: lock timeout %s is not positive: %w", path, o.lockTimeout, gatekeeper.ErrInvalid)
	}
	if o.batchSize <= 0 {
		return nil, fmt.Errorf("opening bolt store %s: batch size %d is not positive: %w", path, o.batchSize, gatekeeper.ErrInvalid)
	}
	if path == "" {
		return nil, fmt.Errorf("opening bolt store: empty path: %w", gatekeeper.ErrInvalid)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("creating directory for bolt store %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.lockTimeout, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("opening bolt store %s: %w (waited %s)", path, ErrLocked, o.lockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("opening bolt store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketEvidence, bucketHeads, bucketQueue, bucketDecisions, bucketDeliveries, bucketDelivered, bucketVersions, bucketLog} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("creating bucket %s: %w", b, err)
			}
		}
		if tx.Bucket(bucketIndex) == nil {
			// A file written before the index: index what it holds.
			return buildIndex(tx)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening bolt store %s: %w", path, err)
	}
	s := &Store{
		db: db, path: path, clock: o.clock, maxBatch: o.batchSize,
		LocalLeases: gatekeeper.NewLocalLeases(o.clock),
		requests:    make(chan *recordReq, o.batchSize),
		stopped:     make(chan struct{}),
	}
	go s.commitLoop()
	return s, nil
}

// Path returns the file the store was opened on.
func (s *Store) Path() string { return s.path }

// Ping checks that the store is open, its buckets readable and the file
// writable: it commits one small write (the time, in its own bucket).
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pinging bolt store: %w", err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketEvidence) == nil {
			return errors.New("evidence bucket missing")
		}
		b, err := tx.CreateBucketIfNotExists(bucketHealth)
		if err != nil {
			return err
		}
		return b.Put([]byte("pinged"), []byte(time.Now().UTC().Format(time.RFC3339Nano)))
	})
	if err != nil {
		return fmt.Errorf("pinging bolt store %s: %w", s.path, err)
	}
	return nil
}

// Close commits the Records and Settles already accepted, waits for
// running transactions and releases the file. Records and Settles after
// Close fail. Closing twice is harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.requests)
	}
	s.mu.Unlock()
	<-s.stopped
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing bolt store %s: %w", s.path, err)
	}
	return nil
}
