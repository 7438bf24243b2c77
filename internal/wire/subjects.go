package wire

import (
	"fmt"
	"strconv"
	"strings"
)

// Subject builders do not validate their arguments, as they run for every call: validate
// names with ValidName, call IDs with ValidCallID, groups with ValidGroup and routes with
// TaskRoute.Validate where they enter the system. A dot in an argument would shift the tokens
// that follow it.

// TaskSubject is where a call of task name with route r is published: <root>.task.<name> for
// the default route, <root>.task.<name>.<labels>.<priority> otherwise (labels NoLabels when
// the call needs none). Actor creation calls use it with ActorCreationName(class).
func (n Names) TaskSubject(name string, r TaskRoute) string {
	if r.IsDefault() {
		return n.root() + ".task." + name
	}
	return n.root() + ".task." + name + "." + r.labelsToken() + "." + r.Priority.String()
}

// TaskFilters returns the filter subjects that match every call of task name, whatever its
// route: the short form and all long forms. One consumer of the work-queue stream may use
// them only if no other consumer's filter overlaps them.
func (n Names) TaskFilters(name string) []string {
	s := n.root() + ".task." + name
	return []string{s, s + ".*.*"}
}

// TasksStreamSubject is the subject of TasksStream: <root>.task.>.
func (n Names) TasksStreamSubject() string { return n.root() + ".task.>" }

// TasksKeepSubject is where clients keep a short-lived message in TasksStream that no
// consumer takes (the framework's task keeper), so that the stream's last file block is not
// emptied, deleted and recreated by every call's ack: <root>.task._jetray.keep. It is the
// reserved four-token shape R.task.<name>.<token>, which no TaskFilters match and
// ParseTaskSubject rejects: it is never a call.
func (n Names) TasksKeepSubject() string { return n.root() + ".task._jetray.keep" }

// TasksUnscheduleSubject is where clients publish the server's purge request for a message
// schedule (HeaderScheduler naming the schedule's subject, HeaderScheduleNext
// ScheduleNextPurge): <root>.task._jetray.unschedule, in the same reserved shape as
// TasksKeepSubject, so that no consumer takes the request.
func (n Names) TasksUnscheduleSubject() string { return n.root() + ".task._jetray.unschedule" }

// ParseTaskSubject reads a task subject of this namespace into the task name and route. Only
// the canonical forms TaskSubject writes are accepted: a long form with the default route
// (<name>._.normal) is an error, since no consumer would ever match it. Errors wrap
// ErrBadSubject.
func (n Names) ParseTaskSubject(subject string) (name string, r TaskRoute, err error) {
	rest, ok := strings.CutPrefix(subject, n.root()+".task.")
	if !ok {
		return "", r, fmt.Errorf("%w: %q is not a task subject of namespace %q", ErrBadSubject, subject, n.ns)
	}
	parts := strings.Split(rest, ".")
	if ValidName(parts[0]) != nil || (len(parts) != 1 && len(parts) != 3) {
		return "", r, fmt.Errorf("%w: task subject %q", ErrBadSubject, subject)
	}
	if len(parts) == 1 {
		return parts[0], r, nil
	}
	if parts[1] != NoLabels {
		if parts[1] == "" || ValidLabelSet(parts[1]) != nil {
			return "", r, fmt.Errorf("%w: label set %q in %q", ErrBadSubject, parts[1], subject)
		}
		r.Labels = parts[1]
	}
	if r.Priority, err = ParsePriority(parts[2]); err != nil {
		return "", TaskRoute{}, err
	}
	if r.IsDefault() {
		return "", TaskRoute{}, fmt.Errorf("%w: %q is the default route in long form (use %s)", ErrBadSubject, subject, n.TaskSubject(parts[0], r))
	}
	return parts[0], r, nil
}

// ResultSubject is where the result of call id is stored: <root>.result.<call id> (that is,
// <root>.result.<client id>.<seq>). The call's Jetray-Reply header must equal it.
func (n Names) ResultSubject(id string) string { return n.root() + ".result." + id }

// ResultItemSubject is where value k (0, 1, ...) of streaming call id is stored:
// <root>.result.<call id>.<k>.
func (n Names) ResultItemSubject(id string, k uint64) string {
	return n.root() + ".result." + id + "." + strconv.FormatUint(k, 10)
}

// ClientResultsFilter matches every result and stream value of the calls of one client:
// <root>.result.<client id>.>.
func (n Names) ClientResultsFilter(clientID string) string {
	return n.root() + ".result." + clientID + ".>"
}

// ResultsStreamSubject is the subject of ResultsStream: <root>.result.>.
func (n Names) ResultsStreamSubject() string { return n.root() + ".result.>" }

// SplitResultSubject splits a result subject into the call ID and, for a stream value, its
// index as written ("" for a final result). ok is false for a subject that is neither (wrong
// namespace or family, empty tokens, more tokens). It does not allocate.
func (n Names) SplitResultSubject(subject string) (id, item string, ok bool) {
	root := n.root()
	if len(subject) <= len(root)+len(".result.") || subject[:len(root)] != root ||
		subject[len(root):len(root)+len(".result.")] != ".result." {
		return "", "", false
	}
	rest := subject[len(root)+len(".result."):]
	i := strings.IndexByte(rest, '.')
	if i <= 0 {
		return "", "", false
	}
	if j := strings.IndexByte(rest[i+1:], '.'); j >= 0 {
		k := i + 1 + j // the dot before the item
		return rest[:k], rest[k+1:], j > 0 && k+1 < len(rest) && strings.IndexByte(rest[k+1:], '.') < 0
	}
	return rest, "", i+1 < len(rest)
}

// ActorSubject is where a call of method on actor id is published: <root>.actor.<actor
// id>.<method> in the default group (""), <root>.actor.<actor id>.<group>.<method> otherwise.
// The method is always the last token, so a host that knows no groups still finds it.
func (n Names) ActorSubject(id, group, method string) string {
	if group == "" {
		return n.root() + ".actor." + id + "." + method
	}
	return n.root() + ".actor." + id + "." + group + "." + method
}

// ActorFilter matches every call of actor id, all groups: <root>.actor.<actor id>.>. The
// reaper, the purge of acked calls and (until groups exist) the actor's consumer use it.
func (n Names) ActorFilter(id string) string { return n.root() + ".actor." + id + ".>" }

// ActorGroupFilter matches the calls of one group of actor id: <root>.actor.<actor id>.* for
// the default group, <root>.actor.<actor id>.<group>.* otherwise. Once an actor has groups,
// each group's consumer must use this filter, not ActorFilter, or it also takes the calls of
// the other groups.
func (n Names) ActorGroupFilter(id, group string) string {
	if group == "" {
		return n.root() + ".actor." + id + ".*"
	}
	return n.root() + ".actor." + id + "." + group + ".*"
}

// ActorsStreamSubject is the subject of ActorsStream: <root>.actor.>.
func (n Names) ActorsStreamSubject() string { return n.root() + ".actor.>" }

// ParseActorSubject reads an actor call subject of this namespace. Errors wrap ErrBadSubject.
func (n Names) ParseActorSubject(subject string) (id, group, method string, err error) {
	rest, ok := strings.CutPrefix(subject, n.root()+".actor.")
	parts := strings.Split(rest, ".")
	if !ok || len(parts) < 3 || len(parts) > 4 || !ValidCallID(parts[0]+"."+parts[1]) ||
		ValidName(parts[len(parts)-1]) != nil || (len(parts) == 4 && (parts[2] == "" || ValidGroup(parts[2]) != nil)) {
		return "", "", "", fmt.Errorf("%w: %q is not an actor subject of namespace %q", ErrBadSubject, subject, n.ns)
	}
	id, method = parts[0]+"."+parts[1], parts[len(parts)-1]
	if len(parts) == 4 {
		group = parts[2]
	}
	return id, group, method, nil
}

// DeadSubject is where a dead letter of name is kept: <root>.dead.<name>, where name is a
// task name or an actor call's Class.method (then two tokens).
func (n Names) DeadSubject(name string) string { return n.root() + ".dead." + name }

// DeadStreamSubject is the subject of DeadStream: <root>.dead.>.
func (n Names) DeadStreamSubject() string { return n.root() + ".dead.>" }

// EventSubject is where the state events of call id are published (core NATS):
// <root>.events.task.<call id>.
func (n Names) EventSubject(id string) string { return n.root() + ".events.task." + id }

// EventsStreamSubject is the subject of EventsStream: <root>.events.task.>.
func (n Names) EventsStreamSubject() string { return n.root() + ".events.task.>" }

// ActorControlSubject is the core NATS request subject of the actor host on one worker (kill
// and ping requests, ControlRequest): <root>.ctl.actors.<SubjectSafe(worker)>.<client id>.
func (n Names) ActorControlSubject(worker, clientID string) string {
	return n.root() + ".ctl.actors." + SubjectSafe(worker) + "." + clientID
}

// CreditSubject is where the producer of streaming call id asks its caller for credit (core
// NATS request/reply, see the stream window): <root>.ctl.credit.<call id>, that is
// <root>.ctl.credit.<client id>.<seq>, answered by the caller's client.
func (n Names) CreditSubject(id string) string { return n.root() + ".ctl.credit." + id }

// ClientCreditFilter matches the credit requests of every streaming call of one client:
// <root>.ctl.credit.<client id>.*.
func (n Names) ClientCreditFilter(clientID string) string {
	return n.root() + ".ctl.credit." + clientID + ".*"
}

// CreditCallID returns the call ID of a credit subject of this namespace, or ok false for any
// other subject. It does not allocate.
func (n Names) CreditCallID(subject string) (id string, ok bool) {
	root := n.root()
	const fam = ".ctl.credit."
	if len(subject) <= len(root)+len(fam) || subject[:len(root)] != root || subject[len(root):len(root)+len(fam)] != fam {
		return "", false
	}
	id = subject[len(root)+len(fam):]
	return id, ValidCallID(id)
}
