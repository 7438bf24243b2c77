// Leader reads: actor records are read from the actors bucket's stream leader, not by a
// direct get. A direct get may be answered by any replica, one that has not applied the
// latest write yet; a host that claimed an actor by compare-and-swap then read the record
// back from such a replica, found it unclaimed, and dropped its own placement as taken over
// (the creation call was then left to the broker, delivered again and again, and failed as
// lost). The leader has applied every write it acknowledged, so a record is read as last
// written. Each read is one request to the JetStream API, as a direct get is.

package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// msgGetResponse is the JetStream API's answer to STREAM.MSG.GET.
type msgGetResponse struct {
	Message *struct {
		Seq  uint64 `json:"seq"`
		Hdrs []byte `json:"hdrs"`
		Data []byte `json:"data"`
	} `json:"message"`
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

// leaderGetTimeout bounds one leader read.
const leaderGetTimeout = 5 * time.Second

// errCodeNoMessage is the JetStream API error code of a message get that found nothing.
const errCodeNoMessage = 10037

// leaderGet returns the value and revision of key in kv, read from its stream's leader;
// found is false if the key is absent, deleted or purged.
func leaderGet(ctx context.Context, nc *nats.Conn, kv jetstream.KeyValue, key string) (value []byte, rev uint64, found bool, err error) {
	// Each request is bounded (as the jetstream package bounds its own), whatever ctx allows: a
	// request that reached a leader about to lose its leadership, or a node still recovering, is
	// never answered, and a caller that polls must get to ask again, of the new leader.
	ctx, cancel := context.WithTimeout(ctx, leaderGetTimeout)
	defer cancel()
	bucket := kv.Bucket()
	req, _ := json.Marshal(map[string]string{"last_by_subj": "$KV." + bucket + "." + key})
	m, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+bucket, req)
	if err != nil {
		return nil, 0, false, fmt.Errorf("jetray: read %s: %w", key, err)
	}
	var resp msgGetResponse
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return nil, 0, false, fmt.Errorf("jetray: read %s: %w", key, err)
	}
	if resp.Error != nil {
		if resp.Error.ErrCode == errCodeNoMessage {
			return nil, 0, false, nil
		}
		return nil, 0, false, fmt.Errorf("jetray: read %s: %s (%d)", key, resp.Error.Description, resp.Error.ErrCode)
	}
	if resp.Message == nil {
		return nil, 0, false, fmt.Errorf("jetray: read %s: empty answer", key)
	}
	if len(resp.Message.Hdrs) > 0 {
		h, err := nats.DecodeHeadersMsg(resp.Message.Hdrs)
		if err != nil {
			return nil, 0, false, fmt.Errorf("jetray: read %s: %w", key, err)
		}
		if op := h.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
			return nil, 0, false, nil
		}
	}
	return resp.Message.Data, resp.Message.Seq, true, nil
}
