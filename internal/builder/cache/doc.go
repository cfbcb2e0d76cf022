// Package cache is the classic builder's persistent build cache: a step's
// cache key -> the image the step made, with what `docker system df -v`
// and `docker builder prune` show of it. Store implements builder.Cache.
//
// On disk, one bbolt file:
//
//	<data-root>/builder/cache.db
//	  bucket "meta"
//	    "schema"  -> "1"
//	  bucket "records"
//	    <cache key> -> JSON record:
//	      {"id":"<25 hex: sha256 of the key>",   the ID df and prune show
//	       "image":"sha256:...",                 the image the step made
//	       "parent":"sha256:...",                the step's parent image ("" = scratch)
//	       "description":"RUN make",             the instruction
//	       "created":"<RFC 3339>", "lastUsed":"<RFC 3339>", "usageCount":N}
//
// A file bbolt finds damaged is moved aside (cache.db.corrupt-<unix
// time>) and the cache starts empty: it costs rebuilds, not the daemon.
// A file of another schema is refused.
//
// Every change is one bbolt transaction, so a crash leaves the file as it
// was before or after it. Uses counted by Get (UsageCount, LastUsedAt) are
// kept in memory and written within a second, with the next Put or Prune,
// or at Close: a cache hit costs no fsync, and a crash loses at most the
// last second's use counts, never a record.
//
// A record does not hold its image: the builder checks that the image
// still exists before trusting a hit, List leaves out records whose image
// is gone, and Prune deletes them.
//
// Prune (POST /build/prune) deletes records in one transaction, then the
// images they pointed to, each only if it is untagged, used by no
// container (Images.Remove refuses such ones) and the parent of no image
// that stays, children first so a whole chain of intermediate images goes.
// A crash between the two leaves untagged images without records, which
// `docker image prune` removes. Without all, only dangling records go: a
// record is dangling when its image is gone, or is neither tagged nor an
// ancestor (through the records' parents) of a tagged image, i.e. the
// steps of builds whose result was untagged or replaced, and of failed
// builds. With all, every record goes (a tagged image itself stays).
// List reports the records that are not dangling as Shared (BuildKit's
// word for a cache layer an image also holds), so system df counts only
// the dangling ones as reclaimable: what a prune without all frees.
package cache
