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

// TarToHost returns r's tar with the ownership of its entries mapped from
// the container's IDs to the host's (an ID outside m becomes the
// overflow ID, 65534, as the kernel shows unmapped IDs): docker cp -a
// into a remapped container.
func TarToHost(r io.Reader, m IDMap) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		tr, tw := tar.NewReader(r), tar.NewWriter(pw)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				pw.CloseWithError(tw.Close())
				return
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			uid, gid := m.ToHost(uint32(hdr.Uid), uint32(hdr.Gid))
			if uid < 0 {
				uid = overflowID
			}
			if gid < 0 {
				gid = overflowID
			}
			hdr.Uid, hdr.Gid = uid, gid
			if err := tw.WriteHeader(hdr); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(tw, tr); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
}

const overflowID = 65534
