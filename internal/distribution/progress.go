package distribution

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/docker/go-units"
)

// progressOut writes Docker JSON-message lines (what the docker CLI's
// jsonmessage package draws), one writer shared by concurrent downloads.
type progressOut struct {
	mu sync.Mutex
	w  io.Writer
}

type progressDetail struct {
	Current int64 `json:"current,omitempty"`
	Total   int64 `json:"total,omitempty"`
}

type jsonMessage struct {
	Status         string          `json:"status,omitempty"`
	ProgressDetail *progressDetail `json:"progressDetail,omitempty"`
	Progress       string          `json:"progress,omitempty"`
	ID             string          `json:"id,omitempty"`
}

func (p *progressOut) write(m jsonMessage) {
	if p == nil || p.w == nil {
		return
	}
	b, _ := json.Marshal(m)
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = p.w.Write(append(b, '\r', '\n'))
}

// status writes a line without progress ("Pull complete", "Waiting").
func (p *progressOut) status(id, format string, args ...any) {
	p.write(jsonMessage{Status: fmt.Sprintf(format, args...), ID: id, ProgressDetail: &progressDetail{}})
}

// bar writes a progress line: action ("Downloading", "Extracting") at
// current of total bytes.
func (p *progressOut) bar(id, action string, current, total int64) {
	p.write(jsonMessage{Status: action, ID: id, ProgressDetail: &progressDetail{Current: current, Total: total},
		Progress: progressBar(current, total)})
}

// progressBar renders docker's "[====>     ]  1.2MB/25MB".
func progressBar(current, total int64) string {
	if total <= 0 {
		return fmt.Sprintf("%8v", units.HumanSize(float64(current)))
	}
	const width = 50
	n := int(float64(width) * float64(current) / float64(total))
	if n > width {
		n = width
	}
	bar := strings.Repeat("=", n)
	if n < width {
		bar += ">" + strings.Repeat(" ", width-n-1)
	}
	return fmt.Sprintf("[%s] %8v/%v", bar, units.HumanSize(float64(current)), units.HumanSize(float64(total)))
}

// counter is an io.Writer counting bytes, reporting at most every 100ms.
type counter struct {
	p       *progressOut
	id      string
	action  string
	current int64
	total   int64
	last    time.Time
}

func (c *counter) Write(b []byte) (int, error) {
	c.current += int64(len(b))
	if now := time.Now(); now.Sub(c.last) >= 100*time.Millisecond {
		c.last = now
		c.p.bar(c.id, c.action, c.current, c.total)
	}
	return len(b), nil
}

// shortID is a layer's id in progress lines: 12 hex digits.
func shortDigest(d fmt.Stringer) string {
	s := d.String()
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 12 {
		s = s[:12]
	}
	return s
}
