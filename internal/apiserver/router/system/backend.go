// Package system routes /_ping, /version, /info (and later /events, /system/df).
package system

import (
	"context"

	"github.com/moby/moby/api/types/system"
)

// Backend is what the system routes need.
type Backend interface {
	Info(ctx context.Context) (system.Info, error)
	Version(ctx context.Context) (system.VersionResponse, error)
}
