package main

import (
	"strings"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/boltstore"
)

// closingStore is a Store that serve closes at shutdown.
type closingStore interface {
	gatekeeper.Store
	Close() error
}

// storeKind is one GATEKEEPER_STORE scheme this build can open.
type storeKind struct {
	scheme string // before "://"
	form   string // how the setting is written, for help and errors
	about  string // one line for serve's help
	open   func(rest string) (closingStore, error)
}

// storeKinds lists the stores this build can open, in the order help shows
// them. parseStore, serve's help and the settings errors all read this
// list: a store is offered exactly when it is here.
func storeKinds() []storeKind {
	return []storeKind{
		{
			scheme: "bolt", form: "bolt://path",
			about: "an embedded bbolt file (the default)",
			open: func(path string) (closingStore, error) {
				s, err := boltstore.Open(path)
				if err != nil {
					return nil, err
				}
				return s, nil
			},
		},
	}
}

// storeForms is the stores' forms for a sentence: "a://x or b://y".
func storeForms() string {
	kinds := storeKinds()
	forms := make([]string, len(kinds))
	for i, k := range kinds {
		forms[i] = k.form
	}
	return strings.Join(forms, " or ")
}
