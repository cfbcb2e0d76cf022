// Package networks routes the /networks endpoints of the Engine API.
package networks

import (
	"context"

	"github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/filters"
)

// Backend is what the network routes need.
type Backend interface {
	NetworkList(ctx context.Context, f filters.Args) ([]network.Inspect, error)
	NetworkInspect(ctx context.Context, ref string) (network.Inspect, error)
	NetworkCreate(ctx context.Context, req CreateRequest) (network.CreateResponse, error)
	NetworkRemove(ctx context.Context, ref string) error
	NetworkPrune(ctx context.Context, f filters.Args) ([]string, error)
	// NetworkConnect attaches a container (running or not) to a network.
	NetworkConnect(ctx context.Context, ref, container string, es *network.EndpointSettings) error
	NetworkDisconnect(ctx context.Context, ref, container string, force bool) error
}

// CreateRequest is POST /networks/create's body.
type CreateRequest struct {
	Name       string
	Driver     string
	Scope      string
	EnableIPv4 *bool
	EnableIPv6 *bool
	IPAM       *network.IPAM
	Internal   bool
	Attachable bool
	Ingress    bool
	ConfigOnly bool
	Options    map[string]string
	Labels     map[string]string
}
