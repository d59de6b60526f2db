package tcpproxy

import (
	"bufio"
	"net"
	"testing"
)

// echo starts a line echo server.
func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	_, err = bufio.NewReader(c).ReadString('\n')
	return err
}

func TestProxy_CutAndRestore(t *testing.T) {
	p := Start(t, echo(t))
	if err := roundTrip(p.Addr()); err != nil {
		t.Fatalf("round trip through the proxy = %v; want <nil>", err)
	}
	held, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	p.Cut()
	if err := roundTrip(p.Addr()); err == nil {
		t.Error("round trip while cut succeeded; want an error")
	}
	if _, err := bufio.NewReader(held).ReadString('\n'); err == nil {
		t.Error("a connection open before Cut still works; want it closed")
	}
	p.Restore()
	if err := roundTrip(p.Addr()); err != nil {
		t.Errorf("round trip after Restore = %v; want <nil>", err)
	}
}
