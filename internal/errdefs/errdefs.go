// Package errdefs holds berth's one error taxonomy.
//
// An error is classified where it starts by wrapping it with one of the
// constructors below (or by wrapping a classified error with %w). The API
// server maps the class to an HTTP status in exactly one function
// (apiserver.statusFor); nothing else inspects error text.
//
//	class            status
//	InvalidArgument  400
//	Unauthorized     401
//	Forbidden        403
//	NotFound         404
//	NotModified      304
//	Conflict         409
//	NotImplemented   501
//	Unavailable      503
//	(anything else)  500
package errdefs

import (
	"errors"
	"fmt"
)

// Class is an error class.
type Class int

// The classes.
const (
	Unknown Class = iota
	InvalidArgument
	Unauthorized
	Forbidden
	NotFound
	NotModified
	Conflict
	NotImplemented
	Unavailable
)

func (c Class) String() string {
	switch c {
	case InvalidArgument:
		return "invalid argument"
	case Unauthorized:
		return "unauthorized"
	case Forbidden:
		return "forbidden"
	case NotFound:
		return "not found"
	case NotModified:
		return "not modified"
	case Conflict:
		return "conflict"
	case NotImplemented:
		return "not implemented"
	case Unavailable:
		return "unavailable"
	}
	return "unknown"
}

// ParseClass is the inverse of Class.String, for classes carried by name
// across a process boundary (the monitor's socket). Unknown names give
// Unknown.
func ParseClass(name string) Class {
	for c := InvalidArgument; c <= Unavailable; c++ {
		if c.String() == name {
			return c
		}
	}
	return Unknown
}

type classified struct {
	class Class
	err   error
}

func (e *classified) Error() string { return e.err.Error() }
func (e *classified) Unwrap() error { return e.err }

// With attaches class c to err. A nil err stays nil.
func With(c Class, err error) error {
	if err == nil {
		return nil
	}
	return &classified{class: c, err: err}
}

// ClassOf returns the class of the outermost classified error in err's chain,
// or Unknown.
func ClassOf(err error) Class {
	var c *classified
	if errors.As(err, &c) {
		return c.class
	}
	return Unknown
}

// Is reports whether err is of class c.
func Is(err error, c Class) bool { return err != nil && ClassOf(err) == c }

func newf(c Class, format string, args ...any) error {
	return &classified{class: c, err: fmt.Errorf(format, args...)}
}

// InvalidArgumentf returns a new InvalidArgument error (400).
func InvalidArgumentf(format string, args ...any) error {
	return newf(InvalidArgument, format, args...)
}

// Unauthorizedf returns a new Unauthorized error (401).
func Unauthorizedf(format string, args ...any) error { return newf(Unauthorized, format, args...) }

// Forbiddenf returns a new Forbidden error (403).
func Forbiddenf(format string, args ...any) error { return newf(Forbidden, format, args...) }

// NotFoundf returns a new NotFound error (404).
func NotFoundf(format string, args ...any) error { return newf(NotFound, format, args...) }

// NotModifiedf returns a new NotModified error (304).
func NotModifiedf(format string, args ...any) error { return newf(NotModified, format, args...) }

// Conflictf returns a new Conflict error (409).
func Conflictf(format string, args ...any) error { return newf(Conflict, format, args...) }

// NotImplementedf returns a new NotImplemented error (501).
func NotImplementedf(format string, args ...any) error { return newf(NotImplemented, format, args...) }

// Unavailablef returns a new Unavailable error (503).
func Unavailablef(format string, args ...any) error { return newf(Unavailable, format, args...) }
