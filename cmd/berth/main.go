// Command berth is the berth CLI: docker's commands and flags, talking only
// to the Engine API of a berthd (or any docker-compatible daemon).
package main

import (
	"context"
	"os"

	"github.com/berth-dev/berth/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:]))
}
