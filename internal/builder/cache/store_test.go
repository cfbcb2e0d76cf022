package cache

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-dev/berth/internal/builder"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
)

// fakeImages is an image store: id -> size, names, users.
type fakeImages struct {
	mu      sync.Mutex
	size    map[image.ID]int64
	tagged  map[image.ID]bool
	used    map[image.ID]bool
	removed []image.ID
}

func newFakeImages() *fakeImages {
	return &fakeImages{size: map[image.ID]int64{}, tagged: map[image.ID]bool{}, used: map[image.ID]bool{}}
}

func (f *fakeImages) add(id image.ID, size int64) {
	f.mu.Lock()
	f.size[id] = size
	f.mu.Unlock()
}

func (f *fakeImages) Size(ctx context.Context, id image.ID) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.size[id]
	if !ok {
		return 0, errdefs.NotFoundf("No such image: %s", id)
	}
	return n, nil
}

func (f *fakeImages) Tagged(ctx context.Context, id image.ID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tagged[id]
}

func (f *fakeImages) Remove(ctx context.Context, id image.ID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.size[id]; !ok {
		return errdefs.NotFoundf("No such image: %s", id)
	}
	if f.tagged[id] || f.used[id] {
		return errdefs.Conflictf("image %s is in use", id)
	}
	delete(f.size, id)
	f.removed = append(f.removed, id)
	return nil
}

func (f *fakeImages) exists(id image.ID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.size[id]
	return ok
}

func img(n int) image.ID { return image.ID(fmt.Sprintf("sha256:%064x", n)) }

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t *testing.T, s *Store, key string, id, parent image.ID, desc string) {
	t.Helper()
	if err := s.Put(context.Background(), key, id, builder.CacheEntry{Parent: parent, Description: desc}); err != nil {
		t.Fatal(err)
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	put(t, s, "k1", img(1), "", "FROM busybox")
	put(t, s, "k2", img(2), img(1), "RUN make")
	if _, ok := s.Get(ctx, "k2"); !ok {
		t.Fatal("k2 missing right after Put")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cache.db")); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	defer s.Close()
	id, ok := s.Get(ctx, "k2")
	if !ok || id != img(2) {
		t.Fatalf("after reopen Get(k2) = %q, %v", id, ok)
	}
	if _, ok := s.Get(ctx, "nope"); ok {
		t.Fatal("Get of a missing key hit")
	}
	recs, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("List: %d records, want 2", len(recs))
	}
	r := recs[1]
	if r.ID != RecordID("k2") || r.Description != "RUN make" || r.Type != "regular" || r.InUse || r.Shared {
		t.Errorf("record = %+v", r)
	}
	// Put counted 1, Get before the close 1 (flushed by Close), Get now 1.
	if r.UsageCount != 3 {
		t.Errorf("UsageCount = %d, want 3", r.UsageCount)
	}
	if len(r.Parents) != 1 || r.Parents[0] != RecordID("k1") {
		t.Errorf("Parents = %v, want [%s]", r.Parents, RecordID("k1"))
	}
	if r.LastUsedAt == nil || r.LastUsedAt.Before(r.CreatedAt) {
		t.Errorf("LastUsedAt %v before CreatedAt %v", r.LastUsedAt, r.CreatedAt)
	}
}

// A record is on disk once Put returns: a copy of the file taken then
// (what a SIGKILL leaves) opens with it.
func TestPutIsDurableWithoutClose(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	put(t, s, "k", img(7), "", "RUN x")
	crashed := t.TempDir()
	src, err := os.Open(filepath.Join(dir, "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(filepath.Join(crashed, "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	c := open(t, crashed)
	defer c.Close()
	if id, ok := c.Get(context.Background(), "k"); !ok || id != img(7) {
		t.Fatalf("crash copy: Get = %q, %v", id, ok)
	}
}

func TestUseCountsFlushWithinASecond(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	put(t, s, "k", img(1), "", "RUN a")
	for range 4 {
		s.Get(ctx, "k")
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		// Read the file itself (a second handle is not possible while
		// bbolt holds its lock), via the store's own view.
		entries, err := s.all()
		if err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		pending := len(s.pending)
		s.mu.Unlock()
		if pending == 0 {
			if entries[0].UsageCount != 5 {
				t.Fatalf("UsageCount = %d, want 5", entries[0].UsageCount)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("use counts not written after 3s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPutReplacesImage(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	put(t, s, "k", img(1), "", "RUN a")
	put(t, s, "k", img(2), "", "RUN a")
	if id, _ := s.Get(ctx, "k"); id != img(2) {
		t.Fatalf("Get = %s, want the new image", id)
	}
	if err := s.Put(ctx, "", img(1), builder.CacheEntry{}); err == nil {
		t.Fatal("Put with an empty key succeeded")
	}
}

func TestListSizesAndGoneImages(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	im := newFakeImages()
	im.add(img(1), 100)
	im.add(img(2), 0)
	s.SetImages(im)
	put(t, s, "a", img(1), "", "RUN a")
	put(t, s, "b", img(2), img(1), "ENV X=1")
	put(t, s, "c", img(3), img(2), "RUN gone") // image deleted meanwhile
	recs, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("List = %d records, want 2 (the gone image's left out)", len(recs))
	}
	if recs[0].Size != 100 || recs[1].Size != 0 {
		t.Errorf("sizes = %d, %d; want 100, 0", recs[0].Size, recs[1].Size)
	}
}

func TestConcurrentGetPut(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				key := fmt.Sprintf("k%d-%d", g, i)
				if err := s.Put(ctx, key, img(g*100+i), builder.CacheEntry{}); err != nil {
					t.Error(err)
					return
				}
				if id, ok := s.Get(ctx, key); !ok || id != img(g*100+i) {
					t.Errorf("Get(%s) = %s, %v", key, id, ok)
				}
			}
		}()
	}
	wg.Wait()
	recs, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 80 {
		t.Fatalf("%d records, want 80", len(recs))
	}
	for _, r := range recs {
		if r.UsageCount != 2 {
			t.Fatalf("record %s UsageCount %d, want 2", r.ID, r.UsageCount)
		}
	}
}

func TestOpenRefusesOtherSchema(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.Close()
	// A file from a future berth: refused rather than misread.
	db := open(t, dir)
	if err := db.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, []byte("9")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(dir); err == nil {
		t.Fatal("Open accepted schema 9")
	}
}

// A cache hit costs a read transaction, no fsync; a Put one fsynced
// transaction.
func BenchmarkGet(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range 1000 {
		s.Put(ctx, fmt.Sprintf("key-%d", i), img(i), builder.CacheEntry{Description: "RUN make"})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := s.Get(ctx, fmt.Sprintf("key-%d", i%1000)); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkPut(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		if err := s.Put(ctx, fmt.Sprintf("key-%d", i), img(i), builder.CacheEntry{Description: "RUN make"}); err != nil {
			b.Fatal(err)
		}
	}
}

// A damaged file is moved aside and the cache starts empty.
func TestOpenDamagedFile(t *testing.T) {
	dir := t.TempDir()
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(i * 7)
	}
	if err := os.WriteFile(filepath.Join(dir, "cache.db"), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir)
	defer s.Close()
	put(t, s, "k", img(1), "", "RUN a")
	aside, _ := filepath.Glob(filepath.Join(dir, "cache.db.corrupt-*"))
	if len(aside) != 1 {
		t.Fatalf("damaged file not kept aside: %v", aside)
	}
	if b, _ := os.ReadFile(aside[0]); len(b) != len(garbage) {
		t.Errorf("aside file has %d bytes, want %d", len(b), len(garbage))
	}
}
