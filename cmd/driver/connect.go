package main

import (
	"context"
	"time"

	"github.com/jetray/jetray/framework"
)

// connectTimeout bounds how long a command keeps trying to reach NATS.
const connectTimeout = 10 * time.Second

// connect connects the driver's client, trying for up to timeout; opts come after the
// driver's defaults (credentials, TLS: see authOptions).
func connect(ctx context.Context, url string, timeout time.Duration, opts ...framework.Option) (*framework.Client, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return framework.Connect(cctx, url, append([]framework.Option{framework.WithName("jetray-driver")}, opts...)...)
}

// connectCmd connects a command to natsURL with its auth flags, trying for up to
// connectTimeout; cancel closes the client.
func connectCmd(ctx context.Context, cmd, natsURL string, auth *framework.Auth) (*framework.Client, func(), error) {
	opts, err := authOptions(cmd, auth)
	if err != nil {
		return nil, nil, err
	}
	c, err := connect(ctx, natsURL, connectTimeout, opts...)
	if err != nil {
		return nil, nil, err
	}
	return c, func() { _ = c.Close() }, nil
}
