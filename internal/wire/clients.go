package wire

import "time"

// Client liveness: every client keeps a key in ClientsBucket while it is connected and answers
// probes on its ClientControlSubject, so that judges (actor hosts, references waiting for a
// call) can tell a client that is gone from one that is slow.

// ClientsBucket is the memory KV bucket of client liveness keys (key: the client ID, value
// ClientInfo): jetray_clients, or jetray_<ns>_clients. Only the client a key names writes it.
func (n Names) ClientsBucket() string { return n.bucket("clients") }

// ClientControlSubject is the core NATS request subject a client answers for itself
// (ClientRequest): <root>.ctl.client.<client id>.
func (n Names) ClientControlSubject(clientID string) string {
	return n.root() + ".ctl.client." + clientID
}

// ClientInfo is what a client records about itself in ClientsBucket.
type ClientInfo struct {
	Client  string    `json:"client"`         // the client ID (also the key)
	Name    string    `json:"name,omitempty"` // the connection name (WithName)
	Started time.Time `json:"started"`        // when the client connected
}

// Operations of a ClientRequest.
const (
	// ClientPing asks whether the client is alive.
	ClientPing = "ping"
	// ClientCall asks what the client knows of its call ClientRequest.ID (ClientReply.Call).
	ClientCall = "call"
)

// ClientRequest is the JSON payload of a request to ClientControlSubject.
type ClientRequest struct {
	Op string `json:"op"`           // ClientPing or ClientCall
	ID string `json:"id,omitempty"` // the call asked about, for ClientCall
}

// What a client knows of one of its calls (ClientReply.Call).
const (
	// CallPending: the call waits for its result on the client (submitted, or held by
	// RemoteFrom until its dependency resolves).
	CallPending = "pending"
	// CallDone: the client issued the call ID and waits for it no longer: its result arrived,
	// or the call failed on the client (its result then stored as the client could).
	CallDone = "done"
	// CallUnknown: the client never issued the call ID (its sequence is past the client's).
	CallUnknown = "unknown"
)

// ClientReply is the JSON payload of a client's answer to a ClientRequest.
type ClientReply struct {
	OK    bool   `json:"ok,omitempty"`    // the client is alive and understood the request
	Call  string `json:"call,omitempty"`  // for ClientCall: CallPending, CallDone or CallUnknown
	Error string `json:"error,omitempty"` // a request the client did not understand
}
