package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/go-archive"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type cpOptions struct {
	followLink bool
	copyUIDGID bool
	quiet      bool
}

// newCpCommand is `berth cp`: docker cp's semantics, done with the same
// go-archive helpers the docker CLI uses.
func newCpCommand(c *CLI) *cobra.Command {
	var o cpOptions
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files/folders between a container and the local filesystem",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCp(cmd.Context(), c, &o, args[0], args[1])
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.followLink, "follow-link", "L", false, "Always follow symbol link in SRC_PATH")
	flags.BoolVarP(&o.copyUIDGID, "archive", "a", false, "Archive mode (copy all uid/gid information)")
	flags.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached")
	return cmd
}

// splitCpArg splits "container:path"; a local path with a colon must
// start with "/" or ".".
func splitCpArg(arg string) (ctr, p string) {
	if filepath.IsAbs(arg) || strings.HasPrefix(arg, ".") {
		return "", arg
	}
	ctr, p, ok := strings.Cut(arg, ":")
	if !ok {
		return "", arg
	}
	return ctr, p
}

func runCp(ctx context.Context, c *CLI, o *cpOptions, src, dst string) error {
	srcCtr, srcPath := splitCpArg(src)
	dstCtr, dstPath := splitCpArg(dst)
	switch {
	case srcCtr != "" && dstCtr != "":
		return errors.New("copying between containers is not supported")
	case srcCtr == "" && dstCtr == "":
		return errors.New("must specify at least one container source")
	case srcPath == "" || dstPath == "":
		return errors.New("filepath can not be empty")
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}
	if srcCtr != "" {
		return copyFromContainer(ctx, c, cl, o, srcCtr, srcPath, dstPath)
	}
	return copyToContainer(ctx, c, cl, o, srcPath, dstCtr, dstPath)
}

func copyFromContainer(ctx context.Context, c *CLI, cl *client.Client, o *cpOptions, ctr, srcPath, dstPath string) error {
	var rebaseName string
	if o.followLink {
		st, err := cl.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: srcPath})
		if err == nil && st.Stat.Mode&os.ModeSymlink != 0 {
			target := st.Stat.LinkTarget
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(srcPath), target)
			}
			target, rebaseName = archive.GetRebaseName(srcPath, target)
			srcPath = target
		}
	}
	res, err := cl.CopyFromContainer(ctx, ctr, client.CopyFromContainerOptions{SourcePath: srcPath})
	if err != nil {
		return err
	}
	defer res.Content.Close()
	if dstPath == "-" {
		_, err := io.Copy(c.Out, res.Content)
		return err
	}
	info := archive.CopyInfo{Path: srcPath, Exists: true, IsDir: res.Stat.Mode.IsDir(), RebaseName: rebaseName}
	var content io.Reader = res.Content
	if rebaseName != "" {
		_, base := archive.SplitPathDirEntry(info.Path)
		content = archive.RebaseArchiveEntries(res.Content, base, rebaseName)
	}
	return archive.CopyTo(content, info, dstPath)
}

func copyToContainer(ctx context.Context, c *CLI, cl *client.Client, o *cpOptions, srcPath, ctr, dstPath string) error {
	dstInfo := archive.CopyInfo{Path: dstPath}
	st, err := cl.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: dstPath})
	if err == nil && st.Stat.Mode&os.ModeSymlink != 0 {
		target := st.Stat.LinkTarget
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(dstPath), target)
		}
		dstInfo.Path = target
		st, err = cl.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: target})
	}
	if err == nil {
		if m := st.Stat.Mode; !m.IsDir() && !m.IsRegular() {
			return fmt.Errorf("destination \"%s:%s\" must be a directory or a regular file", ctr, dstPath)
		}
		dstInfo.Exists, dstInfo.IsDir = true, st.Stat.Mode.IsDir()
	}
	var content io.Reader
	resolved := dstInfo.Path
	if srcPath == "-" {
		if !dstInfo.IsDir {
			return fmt.Errorf("destination \"%s:%s\" must be a directory", ctr, dstPath)
		}
		content = c.In
	} else {
		srcInfo, err := archive.CopyInfoSourcePath(srcPath, o.followLink)
		if err != nil {
			return err
		}
		srcArchive, err := archive.TarResource(srcInfo)
		if err != nil {
			return err
		}
		defer srcArchive.Close()
		dstDir, prepared, err := archive.PrepareArchiveCopy(srcArchive, srcInfo, dstInfo)
		if err != nil {
			return err
		}
		defer prepared.Close()
		resolved, content = dstDir, prepared
	}
	_, err = cl.CopyToContainer(ctx, ctr, client.CopyToContainerOptions{
		DestinationPath: resolved,
		Content:         content,
		CopyUIDGID:      o.copyUIDGID,
	})
	return err
}
