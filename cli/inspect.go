package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/template"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/cli/format"
)

type inspectOptions struct {
	format  string
	kind    string
	size    bool
	targets []string
}

// inspected is one object found: its typed value (for templates, so numbers
// print as integers) and the daemon's raw JSON (for the default output).
type inspected struct {
	typed any
	raw   []byte
}

type inspectFunc func(ctx context.Context, ref string) (inspected, error)

func newInspectCommand(c *CLI) *cobra.Command {
	var o inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on Docker objects",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.targets = args
			return runInspect(cmd.Context(), c, &o)
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&o.format, "format", "f", "", "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template")
	flags.StringVar(&o.kind, "type", "", "Only inspect objects of the given type")
	flags.BoolVarP(&o.size, "size", "s", false, "Display total file sizes if the type is container")
	return cmd
}

func newContainerInspectCommand(c *CLI) *cobra.Command {
	var o inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Display detailed information on one or more containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.targets = args
			o.kind = "container"
			return runInspect(cmd.Context(), c, &o)
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&o.format, "format", "f", "", "Format output using a custom template")
	flags.BoolVarP(&o.size, "size", "s", false, "Display total file sizes")
	return cmd
}

func newImageInspectCommand(c *CLI) *cobra.Command {
	var o inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short: "Display detailed information on one or more images",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.targets = args
			o.kind = "image"
			return runInspect(cmd.Context(), c, &o)
		},
	}
	cmd.Flags().StringVarP(&o.format, "format", "f", "", "Format output using a custom template")
	return cmd
}

func runInspect(ctx context.Context, c *CLI, o *inspectOptions) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	containerFn := func(ctx context.Context, ref string) (inspected, error) {
		r, err := cl.ContainerInspect(ctx, ref, client.ContainerInspectOptions{Size: o.size})
		return inspected{typed: r.Container, raw: r.Raw}, err
	}
	imageFn := func(ctx context.Context, ref string) (inspected, error) {
		var raw bytes.Buffer
		r, err := cl.ImageInspect(ctx, ref, client.ImageInspectWithRawResponse(&raw))
		return inspected{typed: r.InspectResponse, raw: raw.Bytes()}, err
	}
	volumeFn := func(ctx context.Context, ref string) (inspected, error) {
		r, err := cl.VolumeInspect(ctx, ref, client.VolumeInspectOptions{})
		return inspected{typed: r.Volume, raw: r.Raw}, err
	}
	var get inspectFunc
	switch o.kind {
	case "container":
		get = containerFn
	case "image":
		get = imageFn
	case "volume":
		get = volumeFn
	case "":
		// Try each kind; only "not found" moves on to the next.
		get = func(ctx context.Context, ref string) (inspected, error) {
			for _, fn := range []inspectFunc{containerFn, imageFn, volumeFn} {
				v, err := fn(ctx, ref)
				if err == nil || !cerrdefs.IsNotFound(err) {
					return v, err
				}
			}
			return inspected{}, fmt.Errorf("Error: No such object: %s", ref)
		}
	case "config", "network", "node", "plugin", "secret", "service", "task":
		return fmt.Errorf("inspecting %s objects is not supported by berth yet", o.kind)
	default:
		return fmt.Errorf(`unknown type: %q: must be one of "config", "container", "image", "network", "node", "plugin", "secret", "service", "task", "volume"`, o.kind)
	}
	return inspectAll(ctx, c.Out, o.format, o.targets, get)
}

// inspectAll prints the objects found (an indented JSON array by default,
// or the template once per object) and returns the lookup errors.
func inspectAll(ctx context.Context, out io.Writer, tmplText string, refs []string, get inspectFunc) error {
	var tmpl *template.Template
	if tmplText != "" && tmplText != "json" {
		t, err := format.Parse(tmplText)
		if err != nil {
			// docker's inspect exits 64 (EX_USAGE) on a bad template.
			return StatusError{Status: "template parsing error: " + err.Error(), StatusCode: 64}
		}
		tmpl = t
	}
	var failed []error
	var raws [][]byte
	for _, ref := range refs {
		v, err := get(ctx, ref)
		if err != nil {
			failed = append(failed, err)
			continue
		}
		if tmpl == nil {
			raws = append(raws, v.raw)
			continue
		}
		var b bytes.Buffer
		if err := tmpl.Execute(&b, v.typed); err != nil {
			// Fall back to the raw document, as docker does for fields the
			// typed value lacks.
			var m any
			dec := json.NewDecoder(bytes.NewReader(v.raw))
			dec.UseNumber()
			b.Reset()
			if dec.Decode(&m) != nil || tmpl.Execute(&b, m) != nil {
				return fmt.Errorf("template parsing error: %w", err)
			}
		}
		b.WriteString("\n")
		_, _ = b.WriteTo(out)
	}
	if tmpl == nil {
		if err := writeJSONArray(out, raws); err != nil {
			return err
		}
	}
	return errors.Join(failed...)
}

// writeJSONArray prints docker's inspect layout: a 4-space indented array.
func writeJSONArray(out io.Writer, raws [][]byte) error {
	if len(raws) == 0 {
		_, err := io.WriteString(out, "[]\n")
		return err
	}
	var arr bytes.Buffer
	arr.WriteString("[")
	for i, r := range raws {
		if i > 0 {
			arr.WriteString(",")
		}
		arr.Write(bytes.TrimSpace(r))
	}
	arr.WriteString("]")
	var b bytes.Buffer
	if err := json.Indent(&b, arr.Bytes(), "", "    "); err != nil {
		return err
	}
	b.WriteString("\n")
	_, err := out.Write(b.Bytes())
	return err
}
