// Command berth-init is the lean twin of `berthd init`: berth's runtime
// re-executes it for every exec'd process (docker exec) when it is
// installed next to berthd. It links only the runtime, so it starts in a
// fraction of berthd's time; see internal/runtime/linux (ExecInitName).
package main

import (
	"fmt"
	"os"

	"github.com/berth-dev/berth/internal/runtime/linux"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		linux.InitMain() // never returns
	}
	fmt.Fprintln(os.Stderr, "berth-init: run by berthd's runtime only (berth-init init)")
	os.Exit(2)
}
