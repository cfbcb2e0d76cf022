// Package events routes GET /events: a replay of stored events
// (since/until) followed, unless until has passed, by the live stream, as
// JSON messages one after another.
package events

import (
	"encoding/json"
	"net/http"
	"time"

	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-dev/berth/internal/apiserver/router"
	"github.com/berth-dev/berth/internal/apiserver/stream"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/filters"
)

// Backend is the event bus (*events.Bus): the stored events with since <=
// time <= until (zero since: none; zero until: unbounded) that match args,
// and when live is set a feed of the later ones, with no gap or duplicate,
// that closes when cancel is called, the daemon stops or the client falls
// too far behind. An unknown filter is errdefs.InvalidArgument
// ("invalid filter 'x'").
type Backend interface {
	Events(since, until time.Time, args filters.Args, live bool) (past []eventtypes.Message, feed <-chan eventtypes.Message, cancel func(), err error)
}

type eventsRouter struct{ b Backend }

// NewRouter returns the /events route.
func NewRouter(b Backend) router.Router { return &eventsRouter{b: b} }

func (e *eventsRouter) Routes() []router.Route {
	return []router.Route{{Method: http.MethodGet, Path: "/events", Handler: e.events}}
}

// wireMessage adds the fields API 1.51 still sends for container and image
// events (status, id, from), ahead of the current ones as dockerd orders
// them.
type wireMessage struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	eventtypes.Message
}

func toWire(m eventtypes.Message) wireMessage {
	w := wireMessage{Message: m}
	switch m.Type {
	case eventtypes.ContainerEventType:
		w.Status, w.ID, w.From = string(m.Action), m.Actor.ID, m.Actor.Attributes["image"]
	case eventtypes.ImageEventType:
		w.Status, w.ID = string(m.Action), m.Actor.ID
	}
	return w
}

func (e *eventsRouter) events(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var since, until time.Time
	var err error
	if s := q.Get("since"); s != "" {
		if since, err = router.ParseTimestamp(s); err != nil {
			return err
		}
	}
	if s := q.Get("until"); s != "" {
		if until, err = router.ParseTimestamp(s); err != nil {
			return err
		}
	}
	if !since.IsZero() && !until.IsZero() && until.Before(since) {
		return errdefs.InvalidArgumentf("since time (%d.%09d) cannot be after until time (%d.%09d)",
			since.Unix(), since.Nanosecond(), until.Unix(), until.Nanosecond())
	}
	args, err := filters.Parse(q.Get("filters"))
	if err != nil {
		return err
	}
	live := until.IsZero() || until.After(time.Now())
	past, feed, cancelFeed, err := e.b.Events(since, until, args, live)
	if err != nil {
		return err
	}
	defer cancelFeed()

	w.Header().Set("Content-Type", "application/json")
	fw := stream.NewFlushWriter(w)
	fw.Flush() // the client waits for the header before it shows anything
	enc := json.NewEncoder(fw)
	enc.SetEscapeHTML(false)
	for _, m := range past {
		if err := enc.Encode(toWire(m)); err != nil {
			return nil // the client went away
		}
	}
	if feed == nil {
		return nil
	}
	ctx, cancel := router.StreamContext(r)
	defer cancel()
	var deadline <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		deadline = t.C
	}
	for {
		select {
		case m, ok := <-feed:
			if !ok {
				return nil
			}
			if !until.IsZero() && m.TimeNano > until.UnixNano() {
				return nil
			}
			if err := enc.Encode(toWire(m)); err != nil {
				return nil
			}
		case <-deadline:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}
