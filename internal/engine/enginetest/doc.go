// Package enginetest drives the engine over the real image and layer
// stores (vfs), the real monitor and berth's own runtime, as root, with a
// busybox image built from the host's busybox. It holds tests only.
package enginetest
