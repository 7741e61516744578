package crdt

import (
	"context"
	"log"
	"log/slog"
	"strings"
)

// memberlistLogger is the *log.Logger memberlist requires, routed to the
// process's operational logger (slog.Default(), which "gatelab serve" sets):
// each line goes out at the level memberlist tags it with ([DEBUG], [INFO],
// [WARN], [ERR]), so the chatty debug lines stay silent unless asked for.
func memberlistLogger() *log.Logger {
	return log.New(memberlistWriter{}, "", 0)
}

type memberlistWriter struct{}

var memberlistLevels = []struct {
	tag   string
	level slog.Level
}{
	{"[ERR]", slog.LevelError},
	{"[ERROR]", slog.LevelError},
	{"[WARN]", slog.LevelWarn},
	{"[INFO]", slog.LevelInfo},
	{"[DEBUG]", slog.LevelDebug},
}

func (memberlistWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := slog.LevelDebug
	for _, l := range memberlistLevels {
		if rest, ok := strings.CutPrefix(msg, l.tag); ok {
			level, msg = l.level, strings.TrimSpace(rest)
			break
		}
	}
	lg := slog.Default()
	if lg.Enabled(context.Background(), level) {
		lg.Log(context.Background(), level, msg, "limiter", "crdt")
	}
	return len(p), nil
}
