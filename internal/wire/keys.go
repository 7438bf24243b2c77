package wire

import (
	"strconv"
	"strings"
)

// Keys, object names and message IDs live inside a bucket or stream of the namespace, so they
// are the same in every namespace: they are functions, not Names methods.

// RegistryKey is the key of task name in RegistryBucket: task.<name>.
func RegistryKey(name string) string { return "task." + name }

// ActorRecordKey is the key of the record of actor id in ActorsBucket: a.<actor id>.
func ActorRecordKey(id string) string { return "a." + id }

// ActorRecordKeys is the key filter that matches every actor record in ActorsBucket.
const ActorRecordKeys = "a.>"

// ActorIDOfRecordKey returns the actor ID of an ActorRecordKey; ok is false for other keys.
func ActorIDOfRecordKey(key string) (id string, ok bool) {
	id, ok = strings.CutPrefix(key, "a.")
	return id, ok && id != ""
}

// ActorNameKey is the key of actor name in ActorsBucket (value: the actor's ID): n.<name>.
func ActorNameKey(name string) string { return "n." + name }

// LeaseKey is a worker's lease key in WorkersBucket: <SubjectSafe(worker)>-<client id>, and
// -<gen> after the first lease it lost (gen > 0).
func LeaseKey(worker, clientID string, gen int) string {
	k := SubjectSafe(worker) + "-" + clientID
	if gen > 0 {
		k += "-" + strconv.Itoa(gen)
	}
	return k
}

// InputObject names the object holding the input of call id in ObjectsBucket: <call id>.in.
func InputObject(id string) string { return id + ".in" }

// OutputObject names the object holding the output of call id: <call id>.out.
func OutputObject(id string) string { return id + ".out" }

// PutObject names the object holding the value of Put id: <put id>.put.
func PutObject(id string) string { return id + ".put" }

// CancelMsgID is the Nats-Msg-Id of the result Cancel stores for call id: <call id>.cancel.
func CancelMsgID(id string) string { return id + ".cancel" }

// DeadMsgID is the Nats-Msg-Id of the dead letter of call id: dead.<call id>.
func DeadMsgID(id string) string { return "dead." + id }

// actorCreationPrefix starts the task name of an actor class's creation calls.
const actorCreationPrefix = "_actor_"

// ActorCreationName is the task name under which the creation calls of class are published,
// registered and consumed: _actor_<class>.
func ActorCreationName(class string) string { return actorCreationPrefix + class }

// ActorClassOf returns the class of an ActorCreationName; ok is false for other task names.
func ActorClassOf(name string) (class string, ok bool) {
	class, ok = strings.CutPrefix(name, actorCreationPrefix)
	return class, ok && class != ""
}

// MethodCallName is the name of an actor method call in Jetray-Task, results, events, dead
// letters and logs: <class>.<method>.
func MethodCallName(class, method string) string { return class + "." + method }
