package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-dev/berth/internal/builder"
	"github.com/berth-dev/berth/internal/events"
	"github.com/berth-dev/berth/internal/image"
)

const schema = "1"

var (
	bucketMeta    = []byte("meta")
	bucketRecords = []byte("records")
	keySchema     = []byte("schema")
)

// flushDelay is how long Get's use counts may wait in memory.
const flushDelay = time.Second

// record is one cache entry as stored (see the package doc).
type record struct {
	ID          string    `json:"id"`
	Image       image.ID  `json:"image"`
	Parent      image.ID  `json:"parent,omitempty"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"created"`
	LastUsedAt  time.Time `json:"lastUsed"`
	UsageCount  int       `json:"usageCount"`
}

// use is what Get counted for a key since the last write.
type use struct {
	n    int
	last time.Time
}

// Store is the build cache. It is safe for concurrent use.
type Store struct {
	db  *bolt.DB
	now func() time.Time

	mu      sync.Mutex
	images  Images
	pub     events.Publisher
	pending map[string]use
	timer   *time.Timer
	closed  bool
}

var _ builder.Cache = (*Store)(nil)

// Open opens (creating it if needed) the cache database in dir
// (<data-root>/builder).
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("build cache: %w", err)
	}
	path := filepath.Join(dir, "cache.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if errors.Is(err, bolt.ErrInvalid) || errors.Is(err, bolt.ErrChecksum) || errors.Is(err, bolt.ErrVersionMismatch) {
		// A damaged cache costs rebuilds, not the daemon: keep the file
		// for inspection and start empty.
		aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
		logrus.WithError(err).Warnf("build cache %s is damaged: moved to %s, starting empty", path, aside)
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("build cache: open %s: %w (and moving it aside: %v)", path, err, rerr)
		}
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	}
	if err != nil {
		return nil, fmt.Errorf("build cache: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(keySchema); v != nil && string(v) != schema {
			return fmt.Errorf("schema %q, want %q", v, schema)
		}
		if err := meta.Put(keySchema, []byte(schema)); err != nil {
			return err
		}
		_, err = tx.CreateBucketIfNotExists(bucketRecords)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("build cache: %s: %w", path, err)
	}
	return &Store{db: db, now: time.Now, pending: map[string]use{}}, nil
}

// SetImages gives the store the image operations List and Prune need
// (sizes, names, removal). Without it List reports no sizes and Prune
// deletes records only.
func (s *Store) SetImages(im Images) {
	s.mu.Lock()
	s.images = im
	s.mu.Unlock()
}

// SetPublisher makes Prune publish dockerd's "builder prune" event
// (attribute reclaimed: the bytes freed) to p.
func (s *Store) SetPublisher(p events.Publisher) {
	s.mu.Lock()
	s.pub = p
	s.mu.Unlock()
}

func (s *Store) imageOps() Images {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.images
}

// Close writes the pending use counts and closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	ferr := s.db.Update(s.flushTx)
	if err := s.db.Close(); err != nil {
		return err
	}
	return ferr
}

// RecordID is the ID a cache key is shown as: 25 hex digits of its
// sha256, the length of BuildKit's record IDs.
func RecordID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])[:25]
}

// Get returns the image cached under key and counts a use.
func (s *Store) Get(ctx context.Context, key string) (image.ID, bool) {
	var rec record
	found := false
	_ = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRecords).Get([]byte(key))
		if v != nil && json.Unmarshal(v, &rec) == nil {
			found = true
		}
		return nil
	})
	if !found {
		return "", false
	}
	s.mu.Lock()
	u := s.pending[key]
	u.n++
	u.last = s.now().UTC()
	s.pending[key] = u
	if s.timer == nil && !s.closed {
		s.timer = time.AfterFunc(flushDelay, s.flush)
	}
	s.mu.Unlock()
	return rec.Image, true
}

// Put records that the step with key made image id.
func (s *Store) Put(ctx context.Context, key string, id image.ID, e builder.CacheEntry) error {
	if key == "" || id == "" {
		return errors.New("build cache: put: empty key or image")
	}
	now := s.now().UTC()
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := s.flushTx(tx); err != nil {
			return err
		}
		b := tx.Bucket(bucketRecords)
		var rec record
		if v := b.Get([]byte(key)); v != nil && json.Unmarshal(v, &rec) == nil && rec.Image == id {
			rec.UsageCount++
			rec.LastUsedAt = now
		} else {
			rec = record{ID: RecordID(key), Image: id, CreatedAt: now, LastUsedAt: now, UsageCount: 1}
		}
		rec.Parent = e.Parent
		rec.Description = e.Description
		return putRecord(b, key, rec)
	})
	if err != nil {
		return fmt.Errorf("build cache: put: %w", err)
	}
	return nil
}

func putRecord(b *bolt.Bucket, key string, rec record) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), v)
}

// flush writes the pending use counts (the timer's callback). A failed
// write loses them: they are statistics, not records.
func (s *Store) flush() { _ = s.db.Update(s.flushTx) }

// flushTx applies the pending use counts in tx.
func (s *Store) flushTx(tx *bolt.Tx) error {
	s.mu.Lock()
	pending := s.pending
	s.pending = map[string]use{}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.mu.Unlock()
	b := tx.Bucket(bucketRecords)
	for key, u := range pending {
		v := b.Get([]byte(key))
		var rec record
		if v == nil || json.Unmarshal(v, &rec) != nil {
			continue // pruned meanwhile
		}
		rec.UsageCount += u.n
		if u.last.After(rec.LastUsedAt) {
			rec.LastUsedAt = u.last
		}
		if err := putRecord(b, key, rec); err != nil {
			return err
		}
	}
	return nil
}

// entry is a record with its key, for List and Prune.
type entry struct {
	key string
	record
}

// all returns every record, with the pending use counts applied.
func (s *Store) all() ([]entry, error) {
	var out []entry
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
			var rec record
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("record %q: %w", k, err)
			}
			out = append(out, entry{key: string(k), record: rec})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("build cache: %w", err)
	}
	s.mu.Lock()
	for i := range out {
		if u, ok := s.pending[out[i].key]; ok {
			out[i].UsageCount += u.n
			if u.last.After(out[i].LastUsedAt) {
				out[i].LastUsedAt = u.last
			}
		}
	}
	s.mu.Unlock()
	return out, nil
}
