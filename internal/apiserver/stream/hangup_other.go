//go:build !linux

package stream

// WatchHangup returns at once where the hangup is not observable; a
// vanished client shows up as a write error.
func (c *Conn) WatchHangup(hangup func()) {}

func (c *Conn) shutdownBoth() {}
