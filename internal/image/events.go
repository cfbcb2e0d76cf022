package image

import (
	"maps"

	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-dev/berth/internal/events"
)

// SetPublisher makes the store publish image events (import, tag, untag,
// delete, load) to p. Call before serving.
func (s *Store) SetPublisher(p events.Publisher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pub = p
}

// logEvent publishes an image event as dockerd: the actor is the image
// id, its attributes the image's labels and name. The caller holds no
// lock of the store.
func (s *Store) logEvent(id ID, name string, action eventtypes.Action) {
	s.mu.RLock()
	pub := s.pub
	var labels map[string]string
	if rec := s.images[id]; rec != nil {
		labels = rec.config.Config.Labels
	}
	s.mu.RUnlock()
	if pub == nil {
		return
	}
	attrs := maps.Clone(labels)
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs["name"] = name
	pub.Publish(events.Message{Type: eventtypes.ImageEventType, Action: action, Actor: eventtypes.Actor{ID: string(id), Attributes: attrs}})
}
