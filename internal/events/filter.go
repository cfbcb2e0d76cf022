package events

import (
	"strings"

	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-dev/berth/internal/filters"
)

// FilterKeys are the filters GET /events accepts, as dockerd's.
var FilterKeys = []string{
	"config", "container", "daemon", "event", "image", "label", "network",
	"node", "plugin", "scope", "secret", "service", "type", "volume",
}

// NewFilter validates args (an unknown key is an invalid argument,
// "invalid filter 'x'") and returns the matcher dockerd's event filter
// is:
//
//   - every key present must match (AND), any of a key's values may (OR);
//   - container, volume, network, plugin, ...: the actor of that type by
//     ID prefix or by name;
//   - image: a container's image attribute or an image's ID or name, with
//     or without its tag;
//   - event: the action; health_status, exec_create and exec_start also
//     match the actions that add ": detail";
//   - label: the actor's attributes (k or k=v).
func NewFilter(args filters.Args) (func(Message) bool, error) {
	if err := args.Validate(FilterKeys...); err != nil {
		return nil, err
	}
	if args.Len() == 0 {
		return func(Message) bool { return true }, nil
	}
	f := &filter{args: args}
	return f.include, nil
}

type filter struct{ args filters.Args }

func (f *filter) include(m Message) bool {
	a := f.args
	return f.matchEvent(m) &&
		a.Match("type", string(m.Type)) &&
		f.matchScope(m) &&
		f.fuzzyName(m, eventtypes.DaemonEventType) &&
		f.fuzzyName(m, eventtypes.ContainerEventType) &&
		f.fuzzyName(m, eventtypes.PluginEventType) &&
		f.fuzzyName(m, eventtypes.VolumeEventType) &&
		f.fuzzyName(m, eventtypes.NetworkEventType) &&
		f.fuzzyName(m, eventtypes.NodeEventType) &&
		f.fuzzyName(m, eventtypes.ServiceEventType) &&
		f.fuzzyName(m, eventtypes.SecretEventType) &&
		f.fuzzyName(m, eventtypes.ConfigEventType) &&
		f.matchImage(m) &&
		a.MatchKVList("label", m.Actor.Attributes)
}

// fuzzy is dockerd's FuzzyMatch: true when key is absent, else any value
// equals source or is a prefix of it.
func (f *filter) fuzzy(key, source string) bool {
	if !f.args.Contains(key) {
		return true
	}
	for _, v := range f.args.Get(key) {
		if source == v || (v != "" && strings.HasPrefix(source, v)) {
			return true
		}
	}
	return false
}

func (f *filter) fuzzyName(m Message, t eventtypes.Type) bool {
	return f.fuzzy(string(t), m.Actor.ID) || f.fuzzy(string(t), m.Actor.Attributes["name"])
}

func (f *filter) matchEvent(m Message) bool {
	if !f.args.Contains("event") {
		return true
	}
	action := string(m.Action)
	for _, v := range f.args.Get("event") {
		if v == action {
			return true
		}
		switch v {
		case string(eventtypes.ActionHealthStatus), string(eventtypes.ActionExecCreate), string(eventtypes.ActionExecStart):
			if strings.HasPrefix(action, v+":") {
				return true
			}
		}
	}
	return false
}

func (f *filter) matchScope(m Message) bool {
	if !f.args.Contains("scope") {
		return true
	}
	return f.args.Match("scope", m.Scope)
}

func (f *filter) matchImage(m Message) bool {
	if !f.args.Contains("image") {
		return true
	}
	attr := "image"
	if m.Type == eventtypes.ImageEventType {
		attr = "name"
	}
	name := m.Actor.Attributes[attr]
	for _, s := range []string{m.Actor.ID, name, stripTag(m.Actor.ID), stripTag(name)} {
		if s != "" && f.args.Match("image", s) {
			return true
		}
	}
	return false
}

// stripTag drops ":tag" from a reference, leaving a registry port and a
// digest alone.
func stripTag(ref string) string {
	if strings.Contains(ref, "@") {
		return ref
	}
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ref
	}
	return ref[:i]
}
