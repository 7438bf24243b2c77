package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/rs/zerolog"
)

// logLevelFlag is -log-level: a zerolog level name, checked when parsed.
type logLevelFlag struct{ level zerolog.Level }

func (f *logLevelFlag) String() string { return f.level.String() }
func (f *logLevelFlag) Set(s string) error {
	l, err := zerolog.ParseLevel(s)
	if err != nil {
		return err
	}
	f.level = l
	return nil
}

// logFormatFlag is -log-format: console or json.
type logFormatFlag struct{ format string }

func (f *logFormatFlag) String() string { return f.format }
func (f *logFormatFlag) Set(s string) error {
	if s != "console" && s != "json" {
		return fmt.Errorf("%q: want console or json", s)
	}
	f.format = s
	return nil
}

// addLogFlags gives a command -log-level (default warn) and -log-format (default console).
func addLogFlags(fs *flag.FlagSet) {
	fs.Var(&logLevelFlag{zerolog.WarnLevel}, "log-level", "log `level` of the jetray client: trace, debug, info, warn, error, disabled")
	fs.Var(&logFormatFlag{"console"}, "log-format", "log `format`: console or json (logs go to stderr)")
}

// logOption returns the Connect option that logs to w as fs's -log-level and -log-format say.
func logOption(fs *flag.FlagSet, w io.Writer) framework.Option {
	level, format := zerolog.WarnLevel, "console"
	if f, ok := fs.Lookup("log-level").Value.(*logLevelFlag); ok {
		level = f.level
	}
	if f, ok := fs.Lookup("log-format").Value.(*logFormatFlag); ok {
		format = f.format
	}
	if format == "console" {
		noColor := true
		if f, ok := w.(*os.File); ok {
			st, err := f.Stat()
			noColor = err != nil || st.Mode()&os.ModeCharDevice == 0
		}
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: noColor}
	}
	return framework.WithLogger(zerolog.New(w).Level(level).With().Timestamp().Logger())
}
