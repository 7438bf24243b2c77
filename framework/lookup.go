package framework

import "context"

// resultStored reports whether a result for call id is stored in JETRAY_RESULTS (until the
// results TTL): one direct get, no waiting. Runtimes use it to skip a redelivered call that
// another delivery already answered. Errors: the broker cannot be asked before ctx ends.
func (c *Client) resultStored(ctx context.Context, id string) (bool, error) {
	_, _, found, err := c.fetchResult(ctx, id)
	return found, err
}
