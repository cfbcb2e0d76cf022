// Package container is berth's container model: the record of one
// container, its state machine, the registry of ids and names, and the
// read views (ps summaries, inspect responses) built from immutable
// snapshots.
//
// # Concurrency
//
// Every container has an Entry. Readers call Entry.Snapshot and get an
// immutable *Container that is never modified after it is published, so
// ps and inspect never wait on a writer (a stop timeout, a slow mount).
// Writers call Entry.Update, which copies the current snapshot, applies a
// change, checks the state transition, writes the record to disk and then
// publishes the copy. Config and HostConfig are fixed at create and shared
// between snapshots; nothing may modify them afterwards.
//
// Lifecycle operations that must not overlap (start, removal, recording
// an exit) additionally hold Entry.Lock; it is never held while waiting
// for a container to exit.
//
// # On-disk format
//
//	<data-root>/containers/
//	  <id>/                      one directory per container (id: 64 lower-case hex)
//	    config.v2.json           the record: the JSON encoding of Container
//	    .config.v2.json-*        a record being written (removed at load)
//	    hostname, hosts, resolv.conf
//	    <id>-json.log[.N]        json-file log (written by the monitor)
//
// config.v2.json holds one JSON object with the fields of Container:
//
//	{"SchemaVersion":1, "ID":"<64 hex>", "Name":"/web",
//	 "Created":"<RFC 3339 nano>", "Path":"sh", "Args":["-c","..."],
//	 "Config":{...Engine API container.Config, merged with the image's...},
//	 "HostConfig":{...Engine API container.HostConfig...},
//	 "ImageID":"sha256:...", "Driver":"overlay2", "Runtime":"berth",
//	 "State":{"Status":"exited","Pid":0,"ExitCode":0,"Error":"",
//	          "StartedAt":"...","FinishedAt":"...","OOMKilled":false},
//	 "RestartCount":0, "ManuallyStopped":false, "LogPath":"...", "HostnamePath":"...",
//	 "HostsPath":"...", "ResolvConfPath":"..."}
//
// It is replaced atomically: written to a temporary file in the same
// directory, fsync'd, renamed over config.v2.json, and the directory
// fsync'd. A directory without config.v2.json is a create that crashed
// before it finished; Load reports it as an orphan for the caller to
// clean up.
package container
