package asterisktest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
)

// Ports hands out loopback ports that were free when asked for, never the
// same one twice in this process. A block of n consecutive ports is free
// for both UDP and TCP on 127.0.0.1 and 127.0.0.2 when returned. The range
// (20000-29999) stays clear of the test Asterisk's RTP range (see rtpConf).
var ports = &portPool{next: 20000 + rand.IntN(9000)}

type portPool struct {
	mu   sync.Mutex
	next int
}

// FreePorts returns the first of n consecutive free loopback ports.
func FreePorts(n int) (int, error) {
	return ports.take(n)
}

func (p *portPool) take(n int) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range 2000 {
		base := p.next
		p.next += n
		if p.next+n > 30000 {
			p.next = 20000
		}
		if base+n > 30000 {
			continue
		}
		if blockFree(base, n) {
			return base, nil
		}
	}
	return 0, fmt.Errorf("asterisktest: no %d free consecutive ports in 20000-29999", n)
}

func blockFree(base, n int) bool {
	var closers []func() error
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for port := base; port < base+n; port++ {
		for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
			u, err := net.ListenPacket("udp4", fmt.Sprintf("%s:%d", ip, port))
			if err != nil {
				return false
			}
			closers = append(closers, u.Close)
			l, err := net.Listen("tcp4", fmt.Sprintf("%s:%d", ip, port))
			if err != nil {
				return false
			}
			closers = append(closers, l.Close)
		}
	}
	return true
}

func udpFree(ip string, port int) bool {
	u, err := net.ListenPacket("udp4", fmt.Sprintf("%s:%d", ip, port))
	if err != nil {
		return false
	}
	u.Close()
	return true
}
