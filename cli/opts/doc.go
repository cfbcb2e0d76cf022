// Package opts turns docker-style container flags into Engine API request
// bodies: it defines the repeatable and unit-aware flag values (list, bytes,
// decimal, ulimit), the env-file and label-file readers, and Parse, which maps
// a parsed flag set to container.Config, container.HostConfig and
// network.NetworkingConfig exactly as the docker CLI does, so a daemon sees
// the same create request from `berth run` as from `docker run`.
package opts
