package framework

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ObjectsBucket is the JetStream Object Store holding values too big for one message:
// inputs, results and Put values above the server's max payload less 64 KiB. The message then
// carries the object's name in the Jetray-Object header and no payload.
const ObjectsBucket = "jetray_objects"

// objectsKey keys the client's object store among its extensions.
type objectsKey struct{}

// objectHeadroom is kept free below max_payload for headers.
const objectHeadroom = 64 << 10

// bigValue reports whether a payload must go through the object store.
func (c *Client) bigValue(n int) bool {
	return int64(n) > c.nc.MaxPayload()-objectHeadroom
}

func (c *Client) objectStore(ctx context.Context) (jetstream.ObjectStore, error) {
	v, err := c.extension(objectsKey{}, func() (any, error) {
		ctx, cancel := c.apiContext(ctx)
		defer cancel()
		cfg := jetstream.ObjectStoreConfig{
			Bucket:      c.names.ObjectsBucket(),
			Description: "jetray: values above the max payload (inputs deleted once consumed; results and Put values live until the results TTL)",
			TTL:         c.cfg.resultTTL,
			Storage:     c.storage(),
			Replicas:    c.cfg.replicas,
			Metadata:    c.names.Metadata(),
		}
		os, err := c.js.ObjectStore(ctx, c.names.ObjectsBucket())
		if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
			os, err = c.js.CreateObjectStore(ctx, cfg)
			if errors.Is(err, jetstream.ErrBucketExists) {
				os, err = c.js.ObjectStore(ctx, c.names.ObjectsBucket())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("jetray: object store: %w", err)
		}
		st, err := os.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("jetray: object store: %w", err)
		}
		if err := wire.CheckVersion("object store "+cfg.Bucket, st.Metadata()); err != nil {
			return nil, err
		}
		return os, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(jetstream.ObjectStore), nil
}

// putObject stores data as object name.
func (c *Client) putObject(ctx context.Context, name string, data []byte) error {
	os, err := c.objectStore(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute+time.Duration(len(data)>>20)*time.Second)
	defer cancel()
	if _, err := os.PutBytes(ctx, name, data); err != nil {
		return fmt.Errorf("jetray: store %d bytes as object %s: %w", len(data), name, err)
	}
	return nil
}

// getObject reads object name.
func (c *Client) getObject(ctx context.Context, name string) ([]byte, error) {
	os, err := c.objectStore(ctx)
	if err != nil {
		return nil, err
	}
	data, err := os.GetBytes(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("jetray: read object %s: %w", name, err)
	}
	return data, nil
}

// deleteObject removes object name; a missing object is not an error.
func (c *Client) deleteObject(ctx context.Context, name string) {
	os, err := c.objectStore(ctx)
	if err != nil {
		return
	}
	ctx, cancel := c.apiContext(ctx)
	defer cancel()
	if err := os.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		c.log.Debug().Err(err).Str("object", name).Msg("delete object")
	}
}

// offload moves a big payload of m into object name, leaving the name in the header.
func (c *Client) offload(ctx context.Context, m *nats.Msg, name string) error {
	if !c.bigValue(len(m.Data)) {
		return nil
	}
	if err := c.putObject(ctx, name, m.Data); err != nil {
		return err
	}
	m.Header[wire.HeaderObject] = []string{name}
	m.Data = nil
	return nil
}

// payload returns the payload of a message, reading it from the object store if offloaded.
func (c *Client) payload(ctx context.Context, hdr nats.Header, data []byte) ([]byte, error) {
	name := hdr.Get(wire.HeaderObject)
	if name == "" {
		return data, nil
	}
	return c.getObject(ctx, name)
}
