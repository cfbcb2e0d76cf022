package ocispec

import "golang.org/x/sys/unix"

// syscallNonblock keeps an open of a FIFO planted in an image from
// blocking.
const syscallNonblock = unix.O_NONBLOCK
