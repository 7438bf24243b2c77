package wire

import (
	"strconv"
	"strings"
)

// Consumer names are not namespaced: a consumer belongs to a stream, and the streams are.
// They are methods of Names all the same, so that every name comes from one place. Their
// default forms are today's; extension tokens follow a '+', a character no name, call ID or
// token contains, so an extended name never equals a default one.

// TaskConsumer is the durable consumer on TasksStream shared by every worker that serves task
// name on route r: task-<name> for the default route (filter TaskSubject(name, TaskRoute{})),
// task-<name>+<labels>+<priority> otherwise (labels NoLabels when the route needs none).
func (n Names) TaskConsumer(name string, r TaskRoute) string {
	if r.IsDefault() {
		return "task-" + name
	}
	return "task-" + name + "+" + r.labelsToken() + "+" + r.Priority.String()
}

// ActorConsumer is the durable consumer on ActorsStream of placement epoch of actor id,
// serving group: actor-<actor id with '.' as '-'>-<epoch> for the default group (""), with
// +<group> appended otherwise. Epoch 0 (records written before epochs existed) has no epoch
// suffix.
func (n Names) ActorConsumer(id string, epoch uint64, group string) string {
	var b strings.Builder
	b.Grow(len("actor-") + len(id) + 21 + 1 + len(group))
	b.WriteString("actor-")
	for i := 0; i < len(id); i++ {
		if id[i] == '.' {
			b.WriteByte('-')
		} else {
			b.WriteByte(id[i])
		}
	}
	if epoch > 0 {
		b.WriteByte('-')
		b.WriteString(strconv.FormatUint(epoch, 10))
	}
	if group != "" {
		b.WriteByte('+')
		b.WriteString(group)
	}
	return b.String()
}
