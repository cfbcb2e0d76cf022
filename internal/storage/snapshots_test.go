package storage

import (
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Meta files written before Meta existed must read and write back byte
// for byte: existing data roots keep opening.
func TestMetaFileFormat(t *testing.T) {
	for _, s := range []string{
		`{"kind":"active","created":"2026-11-27T11:45:37.123456789Z"}`,
		`{"parent":"base","kind":"committed","created":"2026-11-27T11:45:37Z"}`,
		`{"parent":"base","kind":"active","created":"2026-11-27T11:45:37Z","volatile":true}`,
		`{"parent":"base","kind":"view","created":"2026-11-27T11:45:37Z"}`,
	} {
		m, err := ParseMeta([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.Marshal()
		if err != nil || string(b) != s {
			t.Fatalf("%s became %s (%v)", s, b, err)
		}
	}
	for _, s := range []string{``, `{"kind":"act`, `{"kind":"unknown","created":"2026-11-27T11:45:37Z"}`, `null`} {
		if _, err := ParseMeta([]byte(s)); err == nil {
			t.Errorf("ParseMeta(%q) accepted", s)
		}
	}
}

func TestSnapshotsChecks(t *testing.T) {
	var s Snapshots
	now := time.Now()
	s.Put("base", Meta{Kind: KindCommitted, Created: now})
	s.Put("rw", Meta{Parent: "base", Kind: KindActive, Created: now, Volatile: true})
	for _, c := range []struct {
		err  error
		want errdefs.Class
	}{
		{s.CheckCreate("base", ""), errdefs.Conflict},
		{s.CheckCreate("x", "nope"), errdefs.NotFound},
		{s.CheckCreate("x", "rw"), errdefs.Conflict},
		{s.CheckRemove("nope", t.TempDir()), errdefs.NotFound},
		{s.CheckRemove("base", t.TempDir()), errdefs.Conflict},
	} {
		if !errdefs.Is(c.err, c.want) {
			t.Errorf("wrong class: %v", c.err)
		}
	}
	if err := s.CheckCreate("x", "base"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckCommit("base", "rw"); !errdefs.Is(err, errdefs.Conflict) {
		t.Fatalf("commit onto an existing name: %v", err)
	}
	m, err := s.CheckCommit("c", "rw")
	if err != nil || m != (Meta{Parent: "base", Kind: KindCommitted, Created: now}) {
		t.Fatalf("%+v %v", m, err)
	}
}
