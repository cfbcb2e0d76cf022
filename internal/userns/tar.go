package userns

import (
	"archive/tar"
	"io"
)

// WriteTarToContainer runs write, which writes a tar of files a remapped
// container made (owned by their host IDs), and copies that tar to w with
// the ownership the container sees (IDs outside m unchanged): a layer of
// a remapped container's changes, or docker cp out of it, records root's
// files as root's.
func WriteTarToContainer(w io.Writer, m IDMap, write func(io.Writer) error) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw)) }()
	defer pr.Close()
	tr, tw := tar.NewReader(pr), tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		hdr.Uid, hdr.Gid = m.ToContainer(hdr.Uid, hdr.Gid)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}
