package errdefs

import (
	"errors"
	"fmt"
	"testing"
)

func TestClassRoundTrip(t *testing.T) {
	for c := Unknown; c <= Unavailable; c++ {
		if got := ParseClass(c.String()); got != c {
			t.Errorf("ParseClass(%q) = %v, want %v", c.String(), got, c)
		}
	}
	if ParseClass("bogus") != Unknown {
		t.Error("unknown name must parse as Unknown")
	}
}

func TestClassOfWrapped(t *testing.T) {
	base := NotFoundf("No such container: %s", "x")
	err := fmt.Errorf("start: %w", base)
	if !Is(err, NotFound) || ClassOf(errors.New("plain")) != Unknown {
		t.Fatal("class lost through %w wrapping")
	}
	if With(Conflict, nil) != nil {
		t.Fatal("With(nil) must stay nil")
	}
}
