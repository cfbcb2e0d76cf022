// On-disk layout of the image store (dockerd's):
//
//	<data-root>/image/<driver>/
//	  imagedb/content/sha256/<id-hex>   an image's config JSON (docker-image-spec
//	                                    DockerOCIImage); its sha256 is the image ID
//	  imagedb/metadata/sha256/<id-hex>/lastUpdated   last tag time (RFC 3339)
//	  imagedb/metadata/sha256/<id-hex>/parent        the image it was committed
//	                                    or built from, written before the config
//	                                    (docker history names its entries; an
//	                                    untagged image with a child is not dangling)
//	  layerdb/                          the layer store (internal/layer)
//	  repositories.json                 {"Repositories":{"busybox":{"busybox:latest":"sha256:..."}}}
//	<data-root>/tmp/image-*             files being written
//
// Every file is written to <data-root>/tmp, fsynced and renamed into
// place. An import registers its layer first, then writes the config, then
// repositories.json: after a crash an image either exists whole (perhaps
// without the tag it was getting) or not at all. On open, a config whose
// bytes do not hash to its name, or whose layers are missing, is removed,
// tags naming missing images are dropped, and layers no image or container
// holds are released.
//
// Images reference their top layer once each; that layer holds its
// parents (see internal/layer).
//
// Parents and intermediate images (dockerd's rules): a build makes one
// image per step, each the parent of the next (Commit with ExactConfig
// for a step's layer, CommitConfig for a metadata-only step, whose history
// entry is marked empty_layer). An untagged image with a child is an
// intermediate image: docker images shows it only with -a, it is not
// dangling (prune keeps it), deleting it by ID is a conflict, and it goes
// when the last image built on it is deleted (Delete with prune walks up
// the parents while they are untagged, childless and unused). A failed
// build removes the images it made with DeleteDangling (one image, only
// if untagged, childless and unused).
//
// Commit, load and import follow the same order (layers, then config, then
// tags), so a SIGKILL at any point leaves whole images only (e2e
// TestImageStoreSurvivesSIGKILL). Load unpacks the archive into
// <data-root>/tmp/image-load-* with the layer path rules (nothing outside
// it), checks every config against its digest and every layer against its
// diff ID, and removes the unpacked archive after. Save writes dockerd
// 25's docker-archive: an OCI image layout (oci-layout, index.json,
// blobs/sha256/) plus manifest.json and repositories; layers are the tars
// they were registered from (layer tar splits), so image IDs survive a
// save/load round trip with dockerd either way.

package image
