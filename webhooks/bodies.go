package webhooks

import (
	"bytes"
	"context"
	"fmt"
	"io"
)

// Bodies are read whole before their signature or token can be checked,
// so anybody who reaches the server decides how much of it is read. Up to
// smallBody a body is read at once, its buffer growing with the bytes that
// arrive (never with what Content-Length claims). A larger body (a push of
// many commits; GitHub allows 25 MB) waits for one of largeBodySlots, so
// that many forged large bodies at once are read a few at a time instead
// of all held in memory together.
const (
	smallBody      = 256 << 10
	largeBodySlots = 2
	preGrow        = 64 << 10
)

// largeBodies holds one token per large body being read.
var largeBodies = make(chan struct{}, largeBodySlots)

// readBounded reads at most limit bytes of body (the MaxBytesReader of
// the request) into buf, taking a large-body slot for whatever comes after
// the first smallBody bytes. hint is the request's Content-Length (-1 or
// 0: not known).
func readBounded(ctx context.Context, buf *bytes.Buffer, body io.Reader, hint int64) error {
	if hint > 0 {
		// A typical delivery (tens of KiB) in one allocation; a claim
		// of more is believed only as its bytes arrive.
		buf.Grow(int(min(hint, preGrow)) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(io.LimitReader(body, smallBody))
	if err != nil || n < smallBody {
		return err
	}
	select {
	case largeBodies <- struct{}{}:
		defer func() { <-largeBodies }()
	case <-ctx.Done():
		return fmt.Errorf("waiting to read a body over %d KiB: %w", smallBody>>10, ctx.Err())
	}
	if hint > n {
		buf.Grow(int(hint-n) + bytes.MinRead)
	}
	_, err = buf.ReadFrom(body)
	return err
}
