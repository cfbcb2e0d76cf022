// Package distribution pulls and pushes images over the OCI distribution
// protocol (Docker Registry HTTP API v2) and checks logins.
//
// Endpoints (Resolver): a reference's domain names its registry;
// Docker Hub names ("busybox" = docker.io/library/busybox) go to the
// --registry-mirror list first (pulls only), then registry-1.docker.io.
// A registry is insecure when it is on loopback (127.0.0.0/8, ::1,
// localhost) or listed in --insecure-registry (host[:port] or CIDR):
// HTTPS without verification is tried first, then plain HTTP. A secure
// registry's extra CA and client certificate come from
// <certs-dir>/<host:port>/{ca.crt,client.cert,client.key} (dockerd's
// /etc/docker/certs.d).
//
// Authentication (authorizer): a request answered 401 is retried once
// with the challenge's answer: Basic with the user's credentials, or
// Bearer with a token fetched from the challenge's realm for the
// repository's scope (the user's credentials as basic auth, or an
// identity token as an OAuth2 refresh token).
//
// Pull, in order:
//
//	GET manifest (tag or digest; Accept: OCI and Docker v2 manifests and
//	    indexes); an index resolves to linux/<GOARCH>; schema 1 is refused
//	GET config blob (verified), check rootfs.diff_ids against the layers
//	the longest stored prefix of the layer chain is not fetched
//	GET layer blobs, up to 3 at once, into <data-root>/tmp/pull/<hex>.partial,
//	    hashed as they arrive; a blob whose digest does not match is
//	    deleted and fails the pull; a verified one is renamed to <hex>
//	unpack each layer as soon as it and the ones beneath it are in
//	    (gzip, zstd or plain tar), check its diff ID, register it, delete
//	    its blob
//	store the config (the image), then tag and RepoDigest (name@digest)
//
// On disk: <data-root>/tmp/pull/ holds <hex> (verified blobs not yet
// unpacked), <hex>.partial (downloads in progress, resumed by a Range
// request) and push-* (layers being pushed, removed at start). Blobs
// untouched for a day are removed at start.
//
// Crashes: the image store only lists an image once its config is
// written, after all its layers are registered; layers registered by a
// pull that did not finish are released when the daemon starts again
// (the layer store drops layers nothing holds), so a SIGKILL during a
// pull leaves no image and no layer; the blobs in tmp/pull let the next
// pull skip the download. A pull interrupted by its client keeps its
// registered layers for ten minutes, so that a retry starts from them.
//
// Push: a layer whose blob is known to be on the registry (pulled from or
// pushed to one of its repositories, remembered by diff ID in
// <data-root>/distribution/blobs.json) is found there (HEAD) or mounted
// from that repository (POST ?mount=&from=) without an upload. Any other
// layer is written as a gzip tar to tmp/pull/push-*, hashed and uploaded
// unless the registry has it (HEAD), monolithically (POST then PUT
// ?digest=); then the config and a Docker v2 schema 2 manifest under the
// tag. A layer whose tar does not reproduce its diff ID (one
// imported from another tool's tar) gets the pushed tar's diff ID in the
// pushed config, which then has its own digest.
package distribution
