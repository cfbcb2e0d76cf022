// Command udpecho answers every UDP datagram on the port given as its
// argument with "echo:" and the datagram (busybox has no UDP server).
package main

import (
	"net"
	"os"
)

func main() {
	pc, err := net.ListenPacket("udp4", ":"+os.Args[1])
	if err != nil {
		panic(err)
	}
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			panic(err)
		}
		pc.WriteTo(append([]byte("echo:"), buf[:n]...), from)
	}
}
