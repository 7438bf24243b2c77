// Package wire is jetray's wire protocol in one place: the names of streams, KV buckets, the
// object store and consumers, the subject grammar, the headers, the call options that travel
// in headers, and the records kept in KV. The framework and actors packages build every name
// from here; nothing in this package talks to the network.
//
// # Version
//
// Version is 1: the layout below, which is the one jetray has always used, plus namespaces and
// extension tokens that older builds never produce. A deployment records the version on every
// stream, bucket and object store it creates, under the metadata key MetadataVersion
// ("jetray_wire", Names.Metadata); Connect compares it with CheckVersion and fails with a
// *VersionError (ErrWireVersion) naming both versions. A resource without the key predates
// versioning and reads as version 1.
//
// # Namespaces
//
// A namespace scopes a deployment: two namespaces on one NATS account share no stream,
// bucket, object store or subject, so their tasks, actors and results never meet. The default
// namespace "" has exactly the names deployments have always had. A namespace ns is 1 to 32 of
// a-z 0-9 '-' (ValidNamespace). With NS = upper-case ns, and R the root token:
//
//	                namespace ""         namespace ns
//	root token R    jetray               jetray_<ns>
//	stream          JETRAY_<KIND>        JETRAY_<NS>_<KIND>      KIND: TASKS RESULTS ACTORS DEAD EVENTS
//	KV bucket       jetray_<kind>        jetray_<ns>_<kind>      kind: registry actors cancel workers handbacks idempotency
//	object store    jetray_objects       jetray_<ns>_objects
//
// The root is one token whatever the namespace, so every subject has the same number of tokens
// in every namespace, and no namespace's subjects overlap another's streams (jetray.<ns>.task
// would overlap jetray.task.> for a namespace named "task"). Consumer names, KV keys, object
// names and message IDs are not namespaced: they live inside namespaced streams and buckets.
//
// # Subjects
//
// Tokens: <name> is a task, class or method name (ValidName: 1-128 of A-Z a-z 0-9 _ -; names
// starting with '_' are the runtime's, such as ActorCreationName "_actor_<Class>"). A call ID
// is <client id>.<seq> (two tokens, ValidCallID); an actor ID is the call ID of its creation.
//
//	family          subject                                          stream (its subject)
//	task call       R.task.<name>                                    TASKS (R.task.>)
//	                R.task.<name>.<labels>.<priority>
//	result          R.result.<client id>.<seq>                       RESULTS (R.result.>)
//	stream value    R.result.<client id>.<seq>.<k>                   RESULTS
//	deadline        R.result.<client id>.<seq>._start, ._close       RESULTS (message schedules)
//	start record    R.result.<client id>.<seq>._started              RESULTS
//	actor call      R.actor.<client id>.<seq>.<method>               ACTORS (R.actor.>)
//	                R.actor.<client id>.<seq>.<group>.<method>
//	dead letter     R.dead.<name> or R.dead.<class>.<method>         DEAD (R.dead.>)
//	task event      R.events.task.<client id>.<seq>                  EVENTS (R.events.task.>)
//	actor control   R.ctl.actors.<worker>.<client id>                core NATS request/reply
//	stream credit   R.ctl.credit.<client id>.<seq>                   core NATS request/reply
//
// Extension tokens, reserved now so that later work does not change the grammar again:
//
//   - <labels>, <priority> (TaskRoute): a task call's route. The default route (no labels,
//     normal priority) is always the short form R.task.<name>, today's subject; any other
//     route is always the long form with both tokens, <labels> being NoLabels ("_") when the
//     call needs none. So each route has exactly one subject, short-form filters match no
//     long-form subject, and <priority> is "low", "normal" or "high". <labels> is an opaque
//     token (ValidLabelSet: 1-64 of A-Z a-z 0-9 _ -, not starting with '_') that the
//     scheduling layer derives from a label selector.
//   - <group>: an actor call's concurrency group (ValidGroup, same alphabet). The default group
//     has no token, so today's actor subjects are its subjects. The method stays the last
//     token in both forms. ActorGroupFilter selects one group (R.actor.<id>.* is the default
//     group); ActorFilter (R.actor.<id>.>) selects every call of the actor.
//   - R.task.<name>.<token> (four tokens) is never a call: it is kept for subjects that must
//     live in the TASKS stream but that no task consumer may take, such as JetStream message
//     schedules; no filter built here matches it. R.task._jetray.keep (TasksKeepSubject) is
//     the first: the task keeper's short-lived messages, which keep the stream's last file
//     block from being deleted and recreated on every call.
//   - R.ctl.<component>...: control subjects: "actors" (the actor hosts) and "credit" (the
//     callers of streaming calls with a window, asked by their producers).
//
// A worker built before the extension tokens never consumes a long-form task subject (its
// consumer filter is the exact short form): such calls wait for a worker that does. Such a
// worker's actor consumer (R.actor.<id>.>) does take group calls, and runs the method (the
// last token) without the group's limit.
//
// # Consumer names
//
//	task, default route     task-<name>                            filter TaskSubject(name, TaskRoute{})
//	task, other route       task-<name>+<labels>+<priority>        filter TaskSubject(name, route)
//	actor placement         actor-<client id>-<seq>-<epoch>        ('-' for the ID's dot; no -<epoch> for epoch 0)
//	actor group placement   actor-<client id>-<seq>-<epoch>+<group>
//
// '+' appears in no name, ID or token, so an extended consumer name never equals a default one.
//
// # Keys, objects, message IDs
//
//	registry key            task.<name>                   RegistryKey, value RegistryEntry
//	actor record / name     a.<actor id> / n.<name>       ActorRecordKey, ActorNameKey
//	cancel, handback key    <call id>                     values CancelEntry, decimal count
//	idempotency key         k.<base64url SHA-256>         IdempotencyKVKey, value IdempotencyEntry
//	lease key               <worker>-<client id>[-<gen>]  LeaseKey, value WorkerInfo
//	objects                 <call id>.in  <call id>.out  <put id>.put
//	Nats-Msg-Id             <call id> (calls, Put, PublishFailure), <call id>.cancel, dead.<call id>,
//	                        <call id>.start, <call id>.close (deadline schedules)
//
// # Headers and call options
//
// The Header constants name every Jetray-* header. CallOptions are the options that travel in
// a call's headers, with DefaultCallOptions the one place for their defaults and
// CallOptions.Encode / DecodeCallOptions the one encoder and decoder. A call's deadlines are
// absolute times, fixed at submission: Deadlines, with Deadlines.Encode / DecodeDeadlines.
//
// Result subjects' last tokens: a stream value's is a number, so the reserved tokens
// starting with '_' (_start, _close, _started) never name a value. A call's result is the
// first message of its result subject: a deadline schedule that fires (the broker strips
// every expected-sequence header from what it generates) may add a later one, marked with
// HeaderDeadline.
package wire
