package redisconn

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// logs receives go-redis's own log lines. go-redis has one logger for the
// whole process, which by default prints plain text to stderr (a failed
// dial: "redis: … pool.go:770: … failed to dial"); once bento opens a
// client, the lines go to the newest logger given to [RouteLogs] instead,
// or nowhere when there is none (a manager without a logger logs nothing).
var logs = &zapLogs{}

// installLogs makes logs go-redis's logger, once.
var installLogs = sync.OnceFunc(func() { goredis.SetLogger(logs) })

// zapLogs is a go-redis logger that writes to zap.
type zapLogs struct {
	mu      sync.Mutex
	loggers []*zap.Logger // in the order routed; the last one is used
}

// Printf logs one go-redis line as a warning (go-redis logs only trouble:
// failed dials, dropped connections).
func (z *zapLogs) Printf(_ context.Context, format string, v ...any) {
	z.mu.Lock()
	var l *zap.Logger
	if n := len(z.loggers); n > 0 {
		l = z.loggers[n-1]
	}
	z.mu.Unlock()
	if l != nil {
		l.Warn(strings.TrimSpace(fmt.Sprintf(format, v...)))
	}
}

// RouteLogs sends go-redis's own log lines to l, named "go-redis", until
// the returned release is called (it may be called more than once). With
// several loggers routed, the newest gets the lines. A nil logger, or one
// that drops warnings, is not routed.
func RouteLogs(l *zap.Logger) (release func()) {
	if l == nil || !l.Core().Enabled(zapcore.WarnLevel) {
		return func() {}
	}
	l = l.Named("go-redis")
	logs.mu.Lock()
	logs.loggers = append(logs.loggers, l)
	logs.mu.Unlock()
	return sync.OnceFunc(func() {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		if i := slices.Index(logs.loggers, l); i >= 0 {
			logs.loggers = slices.Delete(logs.loggers, i, i+1)
		}
	})
}
