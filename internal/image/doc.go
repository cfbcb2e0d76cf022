// On-disk layout of the image store (dockerd's):
//
//	<data-root>/image/<driver>/
//	  imagedb/content/sha256/<id-hex>   an image's config JSON (docker-image-spec
//	                                    DockerOCIImage); its sha256 is the image ID
//	  imagedb/metadata/sha256/<id-hex>/lastUpdated   last tag time (RFC 3339)
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

package image
