package filters

import (
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestParseUntil(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Time{
		"90m":                   now.Add(-90 * time.Minute),
		"2026-11-01T10:00:00Z":  time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC),
		"2026-11-01T10:00:00":   time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC),
		"2026-11-01":            time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		"1700000000":            time.Unix(1700000000, 0),
		"1700000000.5":          time.Unix(1700000000, 500000000),
		"1700000000.1234567899": time.Unix(1700000000, 123456789),
	} {
		if got, err := ParseUntil(v, now); err != nil || !got.Equal(want) {
			t.Errorf("ParseUntil(%q) = %v, %v; want %v", v, got, err, want)
		}
	}
	for _, v := range []string{"", "yesterday", "1700000000.x", "1700000000.-5", "1700000000.5e3"} {
		if _, err := ParseUntil(v, now); !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Errorf("ParseUntil(%q) err = %v, want InvalidArgument", v, err)
		}
	}
}
