package supervisor

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
)

// Listen opens a TCP listener on address with the given accept-queue
// length. net.Listen always asks the kernel for its maximum (somaxconn), so
// the socket is made by hand: socket, SO_REUSEADDR, bind, listen(backlog).
// The central listens before it opens its store, so that an address it
// cannot take (busy, or not on this machine) leaves no store behind.
func Listen(address string, backlog int) (net.Listener, error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", address, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("listen %s: port %q is not a number", address, portText)
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return nil, fmt.Errorf("listen %s: resolving %q: %v", address, host, err)
	}
	var (
		family int
		sa     syscall.Sockaddr
	)
	if ip4 := ips[0].To4(); ip4 != nil {
		family = syscall.AF_INET
		a := &syscall.SockaddrInet4{Port: port}
		copy(a.Addr[:], ip4)
		sa = a
	} else {
		family = syscall.AF_INET6
		a := &syscall.SockaddrInet6{Port: port}
		copy(a.Addr[:], ips[0].To16())
		sa = a
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return nil, fmt.Errorf("listen %s: socket: %w", address, err)
	}
	// os.NewFile takes ownership of fd; FileListener dups it, so the file is
	// closed on every path.
	f := os.NewFile(uintptr(fd), "listener:"+address)
	defer f.Close()
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return nil, fmt.Errorf("listen %s: SO_REUSEADDR: %w", address, err)
	}
	if err := syscall.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("listen %s: bind: %w", address, err)
	}
	if err := syscall.Listen(fd, backlog); err != nil {
		return nil, fmt.Errorf("listen %s: listen: %w", address, err)
	}
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", address, err)
	}
	return ln, nil
}
