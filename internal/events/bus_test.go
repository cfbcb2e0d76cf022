package events

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/filters"
)

// clock is a fake clock advancing one second per event.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

var t0 = time.Unix(1_800_000_000, 0)

func ctr(id, name string, action eventtypes.Action) Message {
	return Message{Type: eventtypes.ContainerEventType, Action: action,
		Actor: eventtypes.Actor{ID: id, Attributes: map[string]string{"name": name, "image": "busybox:latest", "app": "web"}}}
}

func actions(ms []Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Actor.ID+" "+string(m.Action))
	}
	return out
}

func TestBusReplaySinceUntilAndPersistence(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: t0}
	b, err := NewBus(BusConfig{Dir: dir, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range []eventtypes.Action{"create", "start", "die", "destroy"} {
		b.Publish(ctr(fmt.Sprint("c", i), "web", a)) // at t0+1s .. t0+4s
	}
	past, sub, err := b.Subscribe(t0.Add(2*time.Second), t0.Add(3*time.Second), nil, false)
	if err != nil || sub != nil {
		t.Fatal(err, sub)
	}
	if got := fmt.Sprint(actions(past)); got != "[c1 start c2 die]" {
		t.Fatalf("since/until replay = %s", got)
	}
	if past[0].Scope != "local" || past[0].Time != t0.Unix()+2 || past[0].TimeNano != t0.Add(2*time.Second).UnixNano() {
		t.Fatalf("stamp = %+v", past[0])
	}
	// No since: nothing replayed.
	if past, _, _ := b.Subscribe(time.Time{}, time.Time{}, nil, false); len(past) != 0 {
		t.Fatalf("zero since replayed %v", actions(past))
	}
	b.Close()

	// A new bus (daemon restart) replays the same events from the journal.
	b2, err := NewBus(BusConfig{Dir: dir, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	past, _, _ = b2.Subscribe(t0, time.Time{}, nil, false)
	if got := fmt.Sprint(actions(past)); got != "[c0 create c1 start c2 die c3 destroy]" {
		t.Fatalf("after restart = %s", got)
	}
	if past[2].Actor.Attributes["name"] != "web" {
		t.Fatalf("attributes lost: %+v", past[2])
	}
}

func TestBusLiveNoGap(t *testing.T) {
	b, _ := NewBus(BusConfig{})
	defer b.Close()
	b.Publish(ctr("a", "x", "create"))
	past, sub, err := b.Subscribe(time.Unix(1, 0), time.Time{}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	b.Publish(ctr("a", "x", "start"))
	if len(past) != 1 || past[0].Action != "create" {
		t.Fatalf("past = %v", actions(past))
	}
	select {
	case m := <-sub.C():
		if m.Action != "start" {
			t.Fatalf("live = %v", m.Action)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no live event")
	}
	b.Unsubscribe(sub)
	if _, ok := <-sub.C(); ok {
		t.Fatal("channel open after Unsubscribe")
	}
}

func TestBusSlowSubscriberDropped(t *testing.T) {
	b, _ := NewBus(BusConfig{})
	defer b.Close()
	_, sub, _ := b.Subscribe(time.Time{}, time.Time{}, nil, true)
	for i := 0; i < subscriberBuffer+1; i++ {
		b.Publish(ctr("a", "x", "start")) // must not block
	}
	n := 0
	for range sub.C() {
		n++
	}
	if n != subscriberBuffer {
		t.Fatalf("got %d before the close, want %d", n, subscriberBuffer)
	}
}

func TestBusBounds(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: t0}
	b, err := NewBus(BusConfig{Dir: dir, Now: c.now, RingSize: 10, MaxFileSize: 2000})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := 0; i < n; i++ {
		b.Publish(ctr(fmt.Sprintf("c%03d", i), "web", "start"))
	}
	if len(b.ring) != 10 {
		t.Fatalf("ring holds %d", len(b.ring))
	}
	var total int64
	for _, f := range []string{"events.log", "events.log.1"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		total += st.Size()
	}
	if total > 2*2000 {
		t.Fatalf("journal holds %d bytes, bound 4000", total)
	}
	// A replay reaching past the ring reads the journal: contiguous, ends
	// with the newest, more than the ring holds.
	past, _, _ := b.Subscribe(t0, time.Time{}, nil, false)
	if len(past) <= 10 || past[len(past)-1].Actor.ID != "c199" {
		t.Fatalf("replay: %d events, last %v", len(past), past[len(past)-1].Actor.ID)
	}
	for i := 1; i < len(past); i++ {
		if past[i].TimeNano-past[i-1].TimeNano != int64(time.Second) {
			t.Fatalf("gap in replay at %d", i)
		}
	}
	// A recent replay is served from the ring alone.
	past, _, _ = b.Subscribe(t0.Add((n-1)*time.Second), time.Time{}, nil, false)
	if got := fmt.Sprint(actions(past)); got != "[c198 start c199 start]" {
		t.Fatalf("recent = %s", got)
	}
	b.Close()
	// A torn last line (crash mid-write) is skipped at load.
	f, _ := os.OpenFile(filepath.Join(dir, "events.log"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"Type":"container","Act`)
	f.Close()
	b2, err := NewBus(BusConfig{Dir: dir, Now: c.now, RingSize: 10, MaxFileSize: 2000})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if last := b2.ring[len(b2.ring)-1]; last.Actor.ID != "c199" {
		t.Fatalf("after torn line: last %v", last.Actor.ID)
	}
}

func TestFilter(t *testing.T) {
	img := Message{Type: eventtypes.ImageEventType, Action: "tag",
		Actor: eventtypes.Actor{ID: "sha256:abc", Attributes: map[string]string{"name": "busybox:latest"}}}
	vol := Message{Type: eventtypes.VolumeEventType, Action: "create", Actor: eventtypes.Actor{ID: "data"}}
	exec := ctr("0123456789ab", "web", "exec_start: sh -c true")
	health := ctr("0123456789ab", "web", "health_status: healthy")
	die := ctr("0123456789ab", "web", "die")
	other := ctr("fedcba", "db", "die")
	other.Actor.Attributes["app"] = "db"
	all := []Message{img, vol, exec, health, die, other}
	for _, tc := range []struct {
		filter string
		want   string
	}{
		{`{"type":{"image":true}}`, "[sha256:abc tag]"},
		{`{"container":{"web":true}}`, "[0123456789ab exec_start: sh -c true 0123456789ab health_status: healthy 0123456789ab die]"},
		{`{"container":{"0123":true},"event":{"die":true}}`, "[0123456789ab die]"},
		{`{"event":{"exec_start":true,"health_status":true}}`, "[0123456789ab exec_start: sh -c true 0123456789ab health_status: healthy]"},
		{`{"event":{"health_status: healthy":true}}`, "[0123456789ab health_status: healthy]"},
		{`{"image":{"busybox":true}}`, "[sha256:abc tag 0123456789ab exec_start: sh -c true 0123456789ab health_status: healthy 0123456789ab die fedcba die]"},
		{`{"label":{"app=db":true}}`, "[fedcba die]"},
		{`{"volume":{"data":true}}`, "[data create]"},
		{`{"type":["container"],"event":["die"]}`, "[0123456789ab die fedcba die]"},
	} {
		args, err := filters.Parse(tc.filter)
		if err != nil {
			t.Fatal(err)
		}
		match, err := NewFilter(args)
		if err != nil {
			t.Fatal(err)
		}
		var got []Message
		for _, m := range all {
			if match(m) {
				got = append(got, m)
			}
		}
		if s := fmt.Sprint(actions(got)); s != tc.want {
			t.Errorf("%s: got %s, want %s", tc.filter, s, tc.want)
		}
	}
	args, _ := filters.Parse(`{"bogus":{"x":true}}`)
	if _, err := NewFilter(args); !errdefs.Is(err, errdefs.InvalidArgument) || err.Error() != "invalid filter 'bogus'" {
		t.Fatalf("unknown filter: %v", err)
	}
}

func BenchmarkPublish(b *testing.B) {
	bus, err := NewBus(BusConfig{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Close()
	m := ctr("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "web", "start")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bus.Publish(m)
	}
}

func BenchmarkReplayFromJournal(b *testing.B) {
	dir := b.TempDir()
	bus, _ := NewBus(BusConfig{Dir: dir, RingSize: 16})
	for i := 0; i < 10000; i++ {
		bus.Publish(ctr(fmt.Sprint(i), "web", "start"))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		past, _, _ := bus.Subscribe(time.Unix(1, 0), time.Time{}, nil, false)
		if len(past) < 1000 {
			b.Fatal(len(past))
		}
	}
}
