package events

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/berth-dev/berth/internal/filters"
)

// Defaults of BusConfig.
const (
	DefaultRingSize    = 4096
	DefaultMaxFileSize = 4 << 20
	subscriberBuffer   = 256
)

// BusConfig configures a Bus.
type BusConfig struct {
	// Dir holds the journal (<data-root>/events); "" keeps events in
	// memory only.
	Dir string
	// RingSize bounds the in-memory ring that serves recent replays.
	RingSize int
	// MaxFileSize rotates the journal: when events.log reaches it, it
	// becomes events.log.1 (replacing the older one), so the journal holds
	// at most about twice this many bytes.
	MaxFileSize int64
	// Now is the clock (tests); time.Now by default.
	Now    func() time.Time
	Logger logrus.FieldLogger
}

// Bus stores events and fans them out to subscribers.
//
// The journal is JSON lines, one Message per line, oldest first:
//
//	<data-root>/events/events.log     current file, appended to
//	<data-root>/events/events.log.1   the previous file, after a rotation
//
// Replays served from the ring when it reaches back far enough, otherwise
// from the journal. A torn last line (crash mid-write) is skipped.
type Bus struct {
	cfg  BusConfig
	mu   sync.Mutex
	ring []Message // oldest first, at most cfg.RingSize
	// complete is true while the ring holds every journaled event (the
	// journal has not outgrown it), so any replay can use the ring.
	complete bool
	file     *os.File
	size     int64
	subs     map[*Subscription]struct{}
	closed   bool
}

var _ Publisher = (*Bus)(nil)

// NewBus opens (or creates) the journal in cfg.Dir and loads its newest
// events into the ring.
func NewBus(cfg BusConfig) (*Bus, error) {
	if cfg.RingSize <= 0 {
		cfg.RingSize = DefaultRingSize
	}
	if cfg.MaxFileSize <= 0 {
		cfg.MaxFileSize = DefaultMaxFileSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	b := &Bus{cfg: cfg, subs: map[*Subscription]struct{}{}, complete: true}
	if cfg.Dir == "" {
		return b, nil
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create events dir: %w", err)
	}
	all, err := b.readJournal()
	if err != nil {
		return nil, err
	}
	if len(all) > cfg.RingSize {
		b.complete = false
		all = all[len(all)-cfg.RingSize:]
	}
	b.ring = append([]Message(nil), all...)
	f, err := os.OpenFile(b.current(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open events journal: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat events journal: %w", err)
	}
	b.file, b.size = f, st.Size()
	return b, nil
}

func (b *Bus) current() string  { return filepath.Join(b.cfg.Dir, "events.log") }
func (b *Bus) previous() string { return filepath.Join(b.cfg.Dir, "events.log.1") }

// Close ends every subscription and closes the journal.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	for s := range b.subs {
		s.end()
	}
	b.subs = nil
	if b.file != nil {
		return b.file.Close()
	}
	return nil
}

// Publish stamps m, journals it and hands it to the subscribers whose
// filter accepts it. A subscriber too slow to keep its buffer from
// filling is dropped (its channel closes), as dockerd does.
func (b *Bus) Publish(m Message) {
	m = Stamp(m, b.cfg.Now())
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.journal(m)
	if len(b.ring) >= b.cfg.RingSize {
		copy(b.ring, b.ring[1:])
		b.ring = b.ring[:len(b.ring)-1]
		b.complete = false
	}
	b.ring = append(b.ring, m)
	for s := range b.subs {
		if !s.match(m) {
			continue
		}
		select {
		case s.ch <- m:
		default:
			b.cfg.Logger.Warn("events: dropping a subscriber that does not keep up")
			s.end()
			delete(b.subs, s)
		}
	}
}

// journal appends m to the file, rotating first when it is full; the
// caller holds b.mu. Failures are logged: events are best effort.
func (b *Bus) journal(m Message) {
	if b.file == nil {
		return
	}
	line, err := json.Marshal(m)
	if err != nil {
		b.cfg.Logger.WithError(err).Warn("events: encode")
		return
	}
	line = append(line, '\n')
	if b.size > 0 && b.size+int64(len(line)) > b.cfg.MaxFileSize {
		if err := b.rotate(); err != nil {
			b.cfg.Logger.WithError(err).Warn("events: rotate journal")
		}
	}
	n, err := b.file.Write(line)
	b.size += int64(n)
	if err != nil {
		b.cfg.Logger.WithError(err).Warn("events: write journal")
	}
}

func (b *Bus) rotate() error {
	if err := b.file.Close(); err != nil {
		return err
	}
	b.file = nil
	if err := os.Rename(b.current(), b.previous()); err != nil {
		return err
	}
	f, err := os.OpenFile(b.current(), os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	b.file, b.size = f, 0
	return nil
}

// readJournal returns the journaled events, oldest first.
func (b *Bus) readJournal() ([]Message, error) {
	var out []Message
	for _, p := range []string{b.previous(), b.current()} {
		data, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read events journal: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var m Message
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				continue // torn or corrupt line
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// Subscription is a live feed of events.
type Subscription struct {
	ch    chan Message
	match func(Message) bool
	done  bool
}

// C delivers the events published after Subscribe; it closes when the
// bus closes, the subscription is cancelled or it fell behind.
func (s *Subscription) C() <-chan Message { return s.ch }

func (s *Subscription) end() {
	if !s.done {
		s.done = true
		close(s.ch)
	}
}

// Subscribe returns the stored events with since <= time <= until that
// match (zero since: none; zero until: no upper bound), and, when live is
// true, a subscription to what follows, with no gap or duplicate between
// the two. Cancel the subscription with Unsubscribe.
func (b *Bus) Subscribe(since, until time.Time, match func(Message) bool, live bool) ([]Message, *Subscription, error) {
	if match == nil {
		match = func(Message) bool { return true }
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var past []Message
	if !since.IsZero() {
		src := b.ring
		if !b.complete && (len(b.ring) == 0 || b.ring[0].TimeNano > since.UnixNano()) {
			all, err := b.readJournal()
			if err != nil {
				return nil, nil, err
			}
			src = all
		}
		for _, m := range src {
			if m.TimeNano < since.UnixNano() || (!until.IsZero() && m.TimeNano > until.UnixNano()) {
				continue
			}
			if match(m) {
				past = append(past, m)
			}
		}
	}
	if !live {
		return past, nil, nil
	}
	s := &Subscription{ch: make(chan Message, subscriberBuffer), match: match}
	if b.closed {
		s.end()
	} else {
		b.subs[s] = struct{}{}
	}
	return past, s, nil
}

// Unsubscribe ends s.
func (b *Bus) Unsubscribe(s *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		s.end()
	}
}

// Events is Subscribe for the GET /events router: args are the request's
// filters (an unknown key is an invalid argument); cancel ends the live
// feed (nil channel when live is false).
func (b *Bus) Events(since, until time.Time, args filters.Args, live bool) (past []Message, feed <-chan Message, cancel func(), err error) {
	match, err := NewFilter(args)
	if err != nil {
		return nil, nil, nil, err
	}
	past, sub, err := b.Subscribe(since, until, match, live)
	if err != nil {
		return nil, nil, nil, err
	}
	if sub == nil {
		return past, nil, func() {}, nil
	}
	return past, sub.C(), func() { b.Unsubscribe(sub) }, nil
}
