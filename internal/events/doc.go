// Package events is berthd's event bus: every service publishes
// container, image, volume and network events to a Publisher, and
// GET /events replays and streams them.
//
// Unlike dockerd's in-memory ring, events are kept on disk so that a
// daemon restart does not lose them (see Bus for the tree).
package events
