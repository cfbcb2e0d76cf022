// Command pullfixture pushes an image of random-data layers to a registry
// (bench/pull.sh's fixture): -layers layers of -size bytes each, gzip.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"strconv"

	"github.com/berth-dev/berth/internal/distribution/registrytest"
)

func main() {
	reg := flag.String("registry", "http://127.0.0.1:5000", "registry URL")
	repo := flag.String("repo", "bench/random", "repository")
	tag := flag.String("tag", "latest", "tag")
	n := flag.Int("layers", 4, "layers")
	size := flag.Int("size", 25<<20, "bytes of random data per layer")
	flag.Parse()
	var layers []registrytest.Layer
	for i := 0; i < *n; i++ {
		layers = append(layers, registrytest.RandomLayer("data"+strconv.Itoa(i), *size))
	}
	d, err := registrytest.PushImage(context.Background(), *reg, *repo, *tag, layers)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d)
}
