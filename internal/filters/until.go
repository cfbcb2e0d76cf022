package filters

import (
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/errdefs"
)

// ParseUntil reads a prune "until" value: a Go duration before now
// ("24h"), an RFC 3339 time, "2006-01-02T15:04:05" or "2006-01-02" (UTC
// when no zone is given), or a Unix timestamp with an optional fraction
// ("1700000000.5"; digits past the ninth are dropped). Anything else is
// InvalidArgument "failed to parse value as time or duration", dockerd's
// words.
func ParseUntil(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	sec, frac, _ := strings.Cut(v, ".")
	if s, err := strconv.ParseInt(sec, 10, 64); err == nil {
		var ns int64
		if frac != "" {
			if strings.Trim(frac, "0123456789") != "" {
				return time.Time{}, errdefs.InvalidArgumentf("failed to parse value as time or duration: %q", v)
			}
			ns, _ = strconv.ParseInt((frac + "000000000")[:9], 10, 64)
		}
		return time.Unix(s, ns), nil
	}
	return time.Time{}, errdefs.InvalidArgumentf("failed to parse value as time or duration: %q", v)
}
