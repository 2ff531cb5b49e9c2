package httpserver

import (
	"net"
	"net/http"
	"strings"

	"github.com/pmgsync/pmgsync"
)

// RedirectToHTTPS returns the handler of a plain-HTTP listener that sends
// every request to the same host, path and query over HTTPS, on port
// httpsPort (left out of the URL when it is 443):
//
//   - GET and HEAD get 301 Moved Permanently, which every client follows;
//   - other methods get 308 Permanent Redirect, which tells the client to
//     send the same method and body again (a 301 lets it turn a POST into
//     a GET, losing the upload);
//   - a request without a Host header (HTTP/1.0) cannot be redirected and
//     gets 400 with a {"detail": …} body saying to use HTTPS.
//
// It reads no body and serves nothing else: a token sent over plain HTTP
// is not looked at.
func RedirectToHTTPS(httpsPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		} else {
			host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]") // an IPv6 literal without a port
		}
		if host == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"detail": pmgsync.Translate(lang(r), pmgsync.MsgUseHTTPS)})
			return
		}
		if httpsPort != "443" {
			host = net.JoinHostPort(host, httpsPort)
		} else if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		status := http.StatusMovedPermanently
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			status = http.StatusPermanentRedirect
			// Close the connection rather than read the rest of a body
			// that the client will send again over HTTPS.
			w.Header().Set("Connection", "close")
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), status)
	})
}
