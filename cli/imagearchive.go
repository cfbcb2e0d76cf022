package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	units "github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/spf13/cobra"
)

// newCommitCommand is `berth commit`.
func newCommitCommand(c *CLI) *cobra.Command {
	var o client.ContainerCommitOptions
	var pause bool
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Short: "Create a new image from a container's changes",
		Args:  requiresRangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				o.Reference = args[1]
			}
			o.NoPause = !pause
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.ContainerCommit(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, res.ID)
			return nil
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&o.Author, "author", "a", "", `Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")`)
	flags.StringArrayVarP(&o.Changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	flags.StringVarP(&o.Comment, "message", "m", "", "Commit message")
	flags.BoolVarP(&pause, "pause", "p", true, "Pause container during commit")
	return cmd
}

// newDiffCommand is `berth diff`.
func newDiffCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "Inspect changes to files or directories on a container's filesystem",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.ContainerDiff(cmd.Context(), args[0], client.ContainerDiffOptions{})
			if err != nil {
				return err
			}
			for _, ch := range res.Changes {
				fmt.Fprintf(c.Out, "%s %s\n", ch.Kind, ch.Path)
			}
			return nil
		},
	}
}

// outputFile opens -o's file, or stdout, which must not be a terminal.
func outputFile(c *CLI, name, what string) (io.WriteCloser, error) {
	if name != "" && name != "-" {
		return os.Create(name)
	}
	if fd, isTerm := c.outFd(); isTerm && fd > 0 {
		return nil, fmt.Errorf("cowardly refusing to save to a terminal. Use the -o flag or redirect")
	}
	return nopWriteCloser{c.Out}, nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

func copyOut(c *CLI, name, what string, r io.ReadCloser) (err error) {
	defer r.Close()
	w, err := outputFile(c, name, what)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, r)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil && name != "" && name != "-" {
		_ = os.Remove(name) // never leave a cut archive behind
	}
	return err
}

// newExportCommand is `berth export`.
func newExportCommand(c *CLI) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export [OPTIONS] CONTAINER",
		Short: "Export a container's filesystem as a tar archive",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			if output == "" {
				if _, err := outputFile(c, "", "export"); err != nil {
					return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
				}
			}
			r, err := cl.ContainerExport(cmd.Context(), args[0], client.ContainerExportOptions{})
			if err != nil {
				return err
			}
			return copyOut(c, output, "export", r)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

// newSaveCommand is `berth save`.
func newSaveCommand(c *CLI) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			if output == "" {
				if _, err := outputFile(c, "", "save"); err != nil {
					return err
				}
			}
			r, err := cl.ImageSave(cmd.Context(), args)
			if err != nil {
				return err
			}
			return copyOut(c, output, "save", r)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

// newLoadCommand is `berth load`.
func newLoadCommand(c *CLI) *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var in io.Reader = c.In
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			} else if _, isTerm := c.inFd(); isTerm {
				return errors.New("requested load from stdin, but stdin is empty")
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.ImageLoad(cmd.Context(), in, client.ImageLoadWithQuiet(quiet))
			if err != nil {
				return err
			}
			defer res.Close()
			fd, isTerm := c.outFd()
			return jsonmessage.DisplayJSONMessagesStream(res, c.Out, fd, isTerm && !quiet, nil)
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress the load output")
	return cmd
}

// newImagePruneCommand is `berth image prune`.
func newImagePruneCommand(c *CLI) *cobra.Command {
	o := pruneOptions{filter: newFilterOpt()}
	var all bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImagePrune(cmd.Context(), c, &o, all)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&all, "all", "a", false, "Remove all unused images, not just dangling ones")
	flags.BoolVarP(&o.force, "force", "f", false, "Do not prompt for confirmation")
	flags.Var(o.filter, "filter", `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

const (
	danglingWarning = `WARNING! This will remove all dangling images.
Are you sure you want to continue?`
	allImagesWarning = `WARNING! This will remove all images without at least one container associated to them.
Are you sure you want to continue?`
)

func runImagePrune(ctx context.Context, c *CLI, o *pruneOptions, all bool) error {
	warning := danglingWarning
	if all {
		warning = allImagesWarning
	}
	if !o.force && !c.confirm(warning) {
		return nil
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}
	f := o.filter.Value()
	f = f.Add("dangling", fmt.Sprint(!all))
	res, err := cl.ImagePrune(ctx, client.ImagePruneOptions{Filters: f})
	if err != nil {
		return err
	}
	if len(res.Report.ImagesDeleted) > 0 {
		fmt.Fprintln(c.Out, "Deleted Images:")
		for _, d := range res.Report.ImagesDeleted {
			if d.Untagged != "" {
				fmt.Fprintln(c.Out, "untagged:", d.Untagged)
			} else {
				fmt.Fprintln(c.Out, "deleted:", d.Deleted)
			}
		}
		fmt.Fprintln(c.Out)
	}
	fmt.Fprintln(c.Out, "Total reclaimed space:", units.HumanSize(float64(res.Report.SpaceReclaimed)))
	return nil
}
