package events

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/events"
)

func newBus(t *testing.T) *events.Bus {
	b, err := events.NewBus(events.BusConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func ctrEvent(name string, action eventtypes.Action) events.Message {
	return events.Message{Type: eventtypes.ContainerEventType, Action: action,
		Actor: eventtypes.Actor{ID: "id-" + name, Attributes: map[string]string{"name": name, "image": "busybox"}}}
}

func ts(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }

func TestReplayShapeAndFilters(t *testing.T) {
	b := newBus(t)
	start := time.Now()
	b.Publish(ctrEvent("web", "start"))
	b.Publish(ctrEvent("db", "die"))
	b.Publish(events.Message{Type: eventtypes.ImageEventType, Action: "tag", Actor: eventtypes.Actor{ID: "sha256:x", Attributes: map[string]string{"name": "busybox:latest"}}})
	h := NewRouter(b).Routes()[0].Handler

	w := httptest.NewRecorder()
	q := fmt.Sprintf("/events?since=%s&until=%s&filters=%s", ts(start.Add(-time.Second)), ts(time.Now()), `{"type":{"container":true}}`)
	if err := h(w, httptest.NewRequest("GET", q, nil)); err != nil {
		t.Fatal(err)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
	var got []map[string]any
	sc := bufio.NewScanner(w.Body)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	if len(got) != 2 || got[0]["Action"] != "start" || got[1]["Action"] != "die" {
		t.Fatalf("replay %v", got)
	}
	if got[0]["status"] != "start" || got[0]["id"] != "id-web" || got[0]["from"] != "busybox" || got[0]["scope"] != "local" {
		t.Fatalf("legacy fields %v", got[0])
	}

	for _, tc := range []struct{ q, msg string }{
		{`/events?filters={"bogus":{"x":true}}`, "invalid filter 'bogus'"},
		{"/events?since=10&until=5", "cannot be after until time"},
		{"/events?since=abc", "invalid timestamp"},
	} {
		err := h(httptest.NewRecorder(), httptest.NewRequest("GET", tc.q, nil))
		if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v", tc.q, err)
		}
	}
}

func TestLiveStreamEndsAtUntil(t *testing.T) {
	b := newBus(t)
	h := NewRouter(b).Routes()[0].Handler
	until := time.Now().Add(300 * time.Millisecond)
	w := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/events?until="+ts(until), nil)
	done := make(chan error, 1)
	go func() { done <- h(w, req) }()
	// Publish until the handler's subscription has it (it subscribes
	// asynchronously); the response ends by itself at until.
	for time.Now().Before(until.Add(-50 * time.Millisecond)) {
		b.Publish(ctrEvent("web", "start"))
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream did not end at until")
	}
	if !strings.Contains(w.Body.String(), `"Action":"start"`) {
		t.Fatalf("no live event in %q", w.Body.String())
	}
}
