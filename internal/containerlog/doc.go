// Package containerlog writes and reads container logs in Docker's json-file
// format, byte for byte, so that tools reading
// /var/lib/docker/containers/<id>/<id>-json.log read berth's logs too.
//
// # Format
//
// One JSON object per line, fields in this order, no spaces:
//
//	{"log":"hello\n","stream":"stdout","time":"2026-11-27T10:00:00.123456789Z"}
//
// The fields:
//
//   - "log" is the output chunk. A complete line keeps its "\n". Output that
//     fills 16 KiB without a newline is cut into partial entries whose "log"
//     has no trailing "\n"; the entry that ends the line has it. At end of
//     stream, pending bytes are written with a "\n" appended (as Docker's
//     copier does). Strings are escaped as moby's jsonlog does: '<', '>',
//     '&' and control bytes other than \n and \r as \u00XX (so a tab is
//     \u0009), invalid UTF-8 as \ufffd, U+2028/U+2029 as \u2028/\u2029.
//   - "stream" is "stdout" or "stderr".
//   - "time" is when the monitor read the chunk, UTC, RFC 3339 with
//     nanoseconds and trailing zeros trimmed (time.RFC3339Nano).
//
// # Files and rotation
//
//	<path>      current file, appended to
//	<path>.1    previous file
//	...
//	<path>.N    oldest, N = MaxFiles-1
//
// Before an entry is written, if the current file holds MaxSize bytes or
// more it is rotated by rename (<path>.i -> <path>.i+1, <path> -> <path>.1,
// dropping the oldest) and a new <path> is created; with MaxFiles == 1 the
// current file is truncated instead, as Docker does.
//
// # Durability
//
// Every entry is one write(2) to a file opened O_APPEND, so a reader in
// another process (berthd) sees whole entries, and logs survive the writer
// (the monitor) exiting or being killed. A writer killed mid-write may
// leave a last line without "\n": readers skip any line that is not a
// complete JSON object, and a Writer opening such a file first terminates
// the fragment with "\n" so later entries stay parseable.
//
// # Reading
//
// Read yields entries across the rotated files, oldest first, with Tail,
// Since/Until and Follow. Follow watches the log's directory with inotify
// (wakes as soon as the writer appends, creates or renames a file) and
// re-checks at least once a second regardless, so a missed or unavailable
// inotify event costs latency, never data. Rotation is detected by the
// inode behind <path> changing (the old file is drained first), truncation
// by the file shrinking below the read offset.
package containerlog
