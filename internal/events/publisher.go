package events

import (
	"time"

	eventtypes "github.com/moby/moby/api/types/events"
)

// Message is the Engine API's event shape.
type Message = eventtypes.Message

// Publisher is what services emit events to. Publish never blocks on
// subscribers and fills in Scope, Time and TimeNano when they are zero.
// *Bus implements it; Nop discards.
type Publisher interface {
	Publish(m Message)
}

// Nop is a Publisher that discards every event (the default of services
// built without a bus, tests).
type Nop struct{}

// Publish implements Publisher.
func (Nop) Publish(Message) {}

// Stamp fills the scope and times of m when unset.
func Stamp(m Message, now time.Time) Message {
	if m.Scope == "" {
		m.Scope = "local"
	}
	if m.TimeNano == 0 {
		m.TimeNano = now.UnixNano()
	}
	if m.Time == 0 {
		m.Time = m.TimeNano / int64(time.Second)
	}
	return m
}
