package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// forEachName runs op on every name concurrently (like docker's stop, kill,
// rm), prints each name that succeeded, in argument order, and returns the
// failures joined one per line.
func forEachName(ctx context.Context, out io.Writer, names []string, op func(context.Context, string) error) error {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = op(ctx, name)
		}()
	}
	wg.Wait()
	var failed []error
	for i, name := range names {
		if errs[i] != nil {
			if !errors.Is(errs[i], errSilent) {
				failed = append(failed, errs[i])
			}
			continue
		}
		fmt.Fprintln(out, name)
	}
	return errors.Join(failed...)
}

// errSilent marks a target that is skipped without output or failure.
var errSilent = errors.New("skipped")

// forEachNameSerial is forEachName one target at a time, printing each
// success as it happens (docker's restart and start).
func forEachNameSerial(ctx context.Context, c *CLI, names []string, op func(context.Context, string) error) error {
	var failed []error
	for _, name := range names {
		if err := op(ctx, name); err != nil {
			failed = append(failed, err)
			continue
		}
		c.println(name)
	}
	return joinErrors(failed)
}

func joinErrors(errs []error) error { return errors.Join(errs...) }

func (c *CLI) println(s string) { fmt.Fprintln(c.Out, s) }
