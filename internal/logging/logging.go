// Package logging builds the process's structured logger, shared by the
// worker's own code and the Temporal SDK.
package logging

import (
	"fmt"
	"log/slog"
	"os"
)

// New returns a JSON logger on stderr at the named level.
func New(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
