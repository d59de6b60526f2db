// Package http is the HTTP response cache of bento: the Caddy handler
// http.handlers.bento_cache (Caddyfile directive bento_cache), an RFC 9111
// shared cache whose entries live in a store of the bento app. Every layer of
// the store serves it: L1 per instance, the shared L2, and the bus that keeps
// the instances coherent, so an unsafe request that invalidates a URL on one
// instance invalidates it on all of them.
//
// The handler computes freshness and Age itself from the stored response
// (RFC 9111 §4.2), validates stale entries with If-None-Match and
// If-Modified-Since, keeps a secondary key per Vary variant, coalesces
// concurrent misses through [bento.GetOrSet], answers stale responses under
// stale-while-revalidate and stale-if-error (RFC 5861), turns the upstream's
// surrogate keys into bento tags and reports what it did in a Cache-Status
// header (RFC 9211).
//
//	{
//		bento {
//			store http {
//				l1 memory
//			}
//		}
//	}
//	:8080 {
//		bento_cache {
//			store http
//		}
//		reverse_proxy 127.0.0.1:9000
//	}
package http
