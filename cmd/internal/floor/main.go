// Command floor is the physical limit a round is measured against in make
// bench: the same agency files sent with no protocol, no parsing and no
// validation, and written with one fsync per agency.
//
//	floor serve ADDR DIR   listen on ADDR; for each connection, append
//	                       everything it sends to a file of its own in DIR
//	                       until the peer half-closes, fsync it, answer one
//	                       byte and close. It prints "ready" once listening.
//	floor send ADDR FILE   connect to ADDR, send FILE's bytes as they are,
//	                       half-close, and exit 0 once the byte comes back.
//
// An agency of the floor is a process of its own, as a real one is, so that
// the floor pays for process start-up too.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: floor serve ADDR DIR | floor send ADDR FILE")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2], os.Args[3])
	case "send":
		err = send(os.Args[2], os.Args[3])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// serve stores each connection's bytes until it is killed.
func serve(addr, dir string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	var n atomic.Int64
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer conn.Close()
			if err := store(conn, filepath.Join(dir, "conn-"+strconv.FormatInt(n.Add(1), 10))); err != nil {
				fmt.Fprintln(os.Stderr, "floor:", err)
			}
		}()
	}
}

// store appends what conn sends to path, fsyncs it, and answers one byte:
// the acknowledgement, only once the bytes are on disk.
func store(conn net.Conn, path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyBuffer(onlyWriter{f}, conn, make([]byte, 256<<10)); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	_, err = conn.Write([]byte{0})
	return err
}

// onlyWriter hides the file's ReadFrom, so that the copy is a plain
// read-and-write loop, as a server that looks at the bytes would do.
type onlyWriter struct{ io.Writer }

// send sends the file's bytes and waits for the acknowledgement.
func send(addr, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := io.Copy(conn, f); err != nil {
		return err
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	var ack [1]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		return fmt.Errorf("no acknowledgement: %w", err)
	}
	return nil
}
