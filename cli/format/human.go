package format

import (
	"time"

	units "github.com/docker/go-units"
)

// now is replaced in tests.
var now = time.Now

// Since renders how long ago t was: "5 seconds ago", "About a minute ago".
func Since(t time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	return units.HumanDuration(now().UTC().Sub(t)) + " ago"
}

// Size renders a byte count like docker: 3 significant digits, SI units.
func Size(n int64) string {
	return units.HumanSizeWithPrecision(float64(n), 3)
}

// TruncateID shortens an ID to 12 hex digits, dropping an algorithm prefix.
func TruncateID(id string) string {
	if i := indexByte(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
