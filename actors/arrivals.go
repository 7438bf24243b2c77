// Arrivals: which deliveries of an actor's calls reached its host. The broker counts a
// delivery in NumDelivered when it sends it, and the worker counts a call's attempts from that
// count (docs/architecture.md, "Retries and attempts"). A delivery the broker sent on a
// connection the host had already lost (a cut the broker had not noticed yet) never arrives,
// so it never ran; its redelivery would still be the call's second attempt, and a call with
// MaxTaskRetries(0) would fail with ErrDied without having run. The host is the only puller
// of its placement's consumer, so the deliveries that reached it are all the deliveries of
// that consumer that can have run: it counts them per call and the worker counts attempts
// from them instead (seam.Received).
//
// This holds because a consumer is pulled by one pullSub for its whole life: a placement
// whose consumer has delivered is never pulled again through a new pullSub (a re-claim moves
// to the next epoch, lease.go), so no arrival goes uncounted.

package actors

// arrivals counts, per stream sequence, the deliveries of a consumer that reached this host
// and whose call is not yet acked or terminated. Guarded by pullSub.mu. Entries live while
// the broker may still deliver their call: at most about MaxAckPending of them.
type arrivals struct {
	reached map[uint64]uint64
}

// arrive notes a delivery of the call at stream sequence seq, the delivered-th by the
// broker's count, and returns how many of its deliveries reached this host, this one
// included (never more than delivered).
func (a *arrivals) arrive(seq, delivered uint64) uint64 {
	if a.reached == nil {
		a.reached = map[uint64]uint64{}
	}
	n := a.reached[seq] + 1
	a.reached[seq] = n
	return min(n, delivered)
}

// settle forgets the call at stream sequence seq: it was acked or terminated, so the broker
// delivers it no more. (If the ack is lost on the way, its redelivery counts from 1 again; a
// redelivery always looks for a stored result before it runs, so it does not run again.)
func (a *arrivals) settle(seq uint64) { delete(a.reached, seq) }

// Received returns how many deliveries of the call reached this host on its consumer, this
// one included; 0 if unknown (seam.Received).
func (m *pulledMsg) Received() uint64 { return m.received }
