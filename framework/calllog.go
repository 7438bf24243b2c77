package framework

import (
	"github.com/jetray/jetray/internal/wire"
	"github.com/rs/zerolog"
)

// callLog returns the worker's logger with the fields of d's call: task, and once the call is
// decoded task_id, attempt and actor_id (actor calls); worker is on every worker log line.
// Built on use only, so calls that log nothing pay nothing.
func (w *Worker) callLog(d *delivery) *zerolog.Logger {
	ctx := w.log.With().Str("task", d.name)
	if call := d.call; call != nil {
		ctx = ctx.Str("task_id", call.ID).Int("attempt", call.Attempt)
		if actor := call.Header.Get(wire.HeaderActor); actor != "" {
			ctx = ctx.Str("actor_id", actor)
		}
	}
	l := ctx.Logger()
	return &l
}
