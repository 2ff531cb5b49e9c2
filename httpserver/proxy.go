package httpserver

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"iter"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies parses a comma-separated list of CIDR prefixes and
// single addresses ("10.0.0.0/8, 192.168.1.7, ::1") into prefixes; an empty
// list trusts no proxy. Errors name the entry that is neither.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var prefixes []netip.Prefix
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if p, err := netip.ParsePrefix(entry); err == nil {
			prefixes = append(prefixes, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(entry)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a CIDR prefix such as 10.0.0.0/8", entry)
		}
		a = a.Unmap()
		prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return prefixes, nil
}

// FormatTrustedProxies is the text form of prefixes that ParseTrustedProxies
// reads back; single addresses are written without their length.
func FormatTrustedProxies(prefixes []netip.Prefix) string {
	parts := make([]string, len(prefixes))
	for i, p := range prefixes {
		if p.IsSingleIP() {
			parts[i] = p.Addr().String()
		} else {
			parts[i] = p.String()
		}
	}
	return strings.Join(parts, ",")
}

// trusts reports whether a is the address of a trusted proxy.
func (s *Server) trusts(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range s.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr returns the address of the socket peer of r.
func peerAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	a, _ := netip.ParseAddr(r.RemoteAddr) // a RemoteAddr set by hand, without a port
	return a.Unmap()
}

// clientIP returns the address of the client that r comes from. When the
// socket peer is a trusted proxy, the chain of addresses the proxies
// recorded (X-Forwarded-For or, if there is none, Forwarded) is walked from
// the right, the nearest hop first: each trusted hop is skipped, and the
// first address that is not a trusted proxy's is the client's, since only
// what trusted proxies appended can be believed. If every hop is trusted,
// the leftmost is the client. A hop that is no address (garbage, "unknown",
// an obfuscated name) stops the walk: it and everything left of it came
// from the client, so the last trusted hop before it is the best answer.
// From any other peer the headers are ignored: they are whatever the
// client chose to send. A proxy that only sets Forwarded must remove any
// X-Forwarded-For that the client sent.
func (s *Server) clientIP(r *http.Request) string {
	peer := peerAddr(r)
	if !s.trusts(peer) {
		return addrString(peer, r.RemoteAddr)
	}
	hops := forwardedFor(r.Header)
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client = a
		if !s.trusts(a) {
			break
		}
	}
	return client.String()
}

// addrString is a, or raw if a is not valid.
func addrString(a netip.Addr, raw string) string {
	if a.IsValid() {
		return a.String()
	}
	return raw
}

// forwardedFor returns the chain of client addresses that proxies recorded
// in h, leftmost (the farthest from the server) first: the values of every
// X-Forwarded-For header, or else the for= parameters of every Forwarded
// header (RFC 7239).
func forwardedFor(h http.Header) []string {
	var hops []string
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, v := range xff {
			for hop := range strings.SplitSeq(v, ",") {
				hops = append(hops, strings.TrimSpace(hop))
			}
		}
		return hops
	}
	for _, v := range h.Values("Forwarded") {
		for elem := range strings.SplitSeq(v, ",") {
			hop := "unknown" // an element without for= is a hop that says nothing
			for k, val := range forwardedPairs(elem) {
				if strings.EqualFold(k, "for") {
					hop = val
				}
			}
			hops = append(hops, hop)
		}
	}
	return hops
}

// forwardedPairs yields the parameters of one element of a Forwarded header
// (RFC 7239), name and value, in order, the value's quotes removed. A pair
// without '=' is skipped.
func forwardedPairs(elem string) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for pair := range strings.SplitSeq(elem, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if ok && !yield(k, strings.Trim(v, `"`)) {
				return
			}
		}
	}
}

// parseHop parses one hop of a forwarded chain: an address, with or
// without a port, IPv6 with or without brackets.
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}

// maxRequestID bounds the length of a request id accepted from a proxy.
const maxRequestID = 64

// requestID returns the id of r: the X-Request-Id a trusted proxy sent, if
// it is a usable one (1 to maxRequestID characters of letters, digits and
// "-_.:"; anything else could forge log lines), or a new random one.
func (s *Server) requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && s.trusts(peerAddr(r)) && validRequestID(id) {
		return id
	}
	return newRequestID()
}

func validRequestID(id string) bool {
	if len(id) > maxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.:", c) >= 0) {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
