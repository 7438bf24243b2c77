package framework

import "context"

// resultStored reports whether a result for call id is stored in JETRAY_RESULTS (until the
// results TTL): one direct get, no waiting. Runtimes use it to skip a redelivered call that
// another delivery already answered. Errors: the broker cannot be asked before ctx ends.
func (c *Client) resultStored(ctx context.Context, id string) (bool, error) {
	ctx, cancel := c.apiContext(ctx)
	defer cancel()
	msg, err := c.lastResult(ctx, id)
	return msg != nil, err
}
