package http

import (
	"math"
	nethttp "net/http"
	"strconv"
	"strings"
	"time"
)

// directives is a parsed Cache-Control field: lowercase names, unquoted
// values ("" for a directive without one).
type directives map[string]string

// parseDirectives parses every Cache-Control line of h named field. A
// directive that appears twice keeps its first value, and conflicting
// duplicates of max-age or s-maxage are recorded as invalid (see seconds).
func parseDirectives(h nethttp.Header, field string) directives {
	lines := h.Values(field)
	if len(lines) == 0 {
		return nil
	}
	d := make(directives)
	for _, line := range lines {
		for _, part := range splitList(line) {
			name, value, _ := strings.Cut(part, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			value = strings.TrimSpace(value)
			if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			if old, dup := d[name]; dup {
				if old != value && (name == "max-age" || name == "s-maxage") {
					d[name] = "invalid"
				}
				continue
			}
			d[name] = value
		}
	}
	return d
}

// splitList splits a comma-separated field value, keeping commas inside
// quoted strings.
func splitList(s string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case '\\':
			if quoted {
				i++
			}
		case ',':
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func (d directives) has(name string) bool {
	_, ok := d[name]
	return ok
}

// seconds returns the delta-seconds value of name. ok is false when the
// directive is absent; valid is false when its value is not a non-negative
// integer (RFC 9111 §1.2.2), which a cache reads as stale. Values past 2^31
// saturate there, as §1.2.2 says.
func (d directives) seconds(name string) (secs int64, ok, valid bool) {
	v, ok := d[name]
	if !ok {
		return 0, false, false
	}
	if v == "" {
		return 0, true, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, true, false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > math.MaxInt32 {
		return math.MaxInt32, true, true
	}
	return n, true, true
}

// heuristicStatus are the status codes heuristically cacheable by default
// (RFC 9110 §15.1).
var heuristicStatus = map[int]bool{
	200: true, 203: true, 204: true, 206: true, 300: true, 301: true, 308: true,
	404: true, 405: true, 410: true, 414: true, 501: true,
}

// cacheDirectives returns the directives that govern the cache whose
// device token is token for the response header h: Surrogate-Control when
// it has a max-age or no-store for the cache (see surrogateDirectives),
// else CDN-Cache-Control when present (RFC 9213), else Cache-Control.
func cacheDirectives(h nethttp.Header, token string) directives {
	if d := surrogateDirectives(h, token); d != nil {
		return d
	}
	if len(h.Values("CDN-Cache-Control")) > 0 {
		return parseDirectives(h, "CDN-Cache-Control")
	}
	return parseDirectives(h, "Cache-Control")
}

// responseDirectives returns the directives that govern h's cache for the
// response header hdr.
func (h *Handler) responseDirectives(hdr nethttp.Header) directives {
	return cacheDirectives(hdr, h.CacheStatusName)
}

// surrogateControl is the response field of the W3C Edge Architecture
// (2001) that an origin uses to control the surrogates in front of it; a
// surrogate removes it before the response goes on.
const surrogateControl = "Surrogate-Control"

// surrogateCapability is the Surrogate-Capability member that announces
// the cache, under its device token, to the upstream (Edge Architecture
// §2.1); Surrogate-Control directives can then target it ("max-age=60;token").
func surrogateCapability(token string) string { return token + `="Surrogate/1.0"` }

// surrogateDirectives returns the Surrogate-Control directives of h that
// apply to the surrogate named token — those targeted at it when there
// are any, else the untargeted ones — as Cache-Control directives:
// max-age=N becomes max-age, its "+M" extension stale-if-error, and
// no-store stays. It returns nil when neither max-age nor no-store
// applies, so that Cache-Control governs. A directive with blanks around
// its "=" is ignored.
func surrogateDirectives(h nethttp.Header, token string) directives {
	var mine, all directives
	for _, line := range h.Values(surrogateControl) {
		for _, part := range splitList(line) {
			name, value, target, ok := surrogateDirective(part)
			switch {
			case !ok:
			case strings.EqualFold(target, token):
				mine = mine.addSurrogate(name, value)
			case target == "":
				all = all.addSurrogate(name, value)
			}
		}
	}
	if mine != nil {
		return mine
	}
	return all
}

// surrogateDirective splits one member of Surrogate-Control into its
// name (lowercase), value and target device; ok is false for a directive
// other than max-age and no-store, or one with blanks around its "=".
func surrogateDirective(part string) (name, value, target string, ok bool) {
	part = strings.TrimSpace(part)
	if i := strings.LastIndexByte(part, ';'); i >= 0 && !strings.Contains(part[i:], `"`) {
		part, target = part[:i], strings.TrimSpace(part[i+1:])
	}
	name, value, hasValue := strings.Cut(part, "=")
	name = strings.ToLower(name)
	switch {
	case strings.TrimSpace(name) != name || strings.TrimSpace(value) != value:
		return "", "", "", false
	case name == "no-store":
		return name, "", target, true
	case name == "max-age" && !hasValue:
		return name, "invalid", target, true
	}
	return name, value, target, name == "max-age"
}

// addSurrogate adds a Surrogate-Control directive to d as its Cache-Control
// equivalent, keeping the first of duplicates: max-age=N+M is max-age=N and
// stale-if-error=M.
func (d directives) addSurrogate(name, value string) directives {
	if d == nil {
		d = make(directives)
	}
	if _, dup := d[name]; dup {
		return d
	}
	age, stale, extended := strings.Cut(value, "+")
	d[name] = age
	if extended {
		d["stale-if-error"] = stale
	}
	return d
}

// policy is what the handler's settings add to the RFC's rules.
type policy struct {
	defaultTTL   time.Duration // freshness of a response that gives none
	maxTTL       time.Duration // cap on any freshness lifetime; 0: none
	heuristicMax time.Duration // cap on heuristic freshness
}

// storable reports whether a response to a GET may be stored (RFC 9111 §3),
// and why not.
func (p policy) storable(status int, h nethttp.Header, cc directives, authorized bool) (bool, string) {
	switch {
	case status < 200 || status == 206 || status == 304 || status >= 600:
		return false, "status"
	case cc.has("must-understand") && !understoodStatus(status):
		return false, "must-understand"
	case cc.has("no-store") && !cc.has("must-understand"):
		// With must-understand, no-store is only there for caches that do
		// not know the directive (§5.2.2.3).
		return false, "no-store"
	case cc.has("private"):
		return false, "private"
	case hasVaryStar(h):
		return false, "vary"
	}
	explicit := cc.has("public") || cc.has("max-age") || cc.has("s-maxage") || len(h.Values("Expires")) > 0
	if authorized && !(cc.has("must-revalidate") || cc.has("public") || cc.has("s-maxage")) {
		return false, "authorization"
	}
	if explicit || heuristicStatus[status] || (cc.has("no-cache") && heuristicStatus[status]) {
		return true, ""
	}
	if p.defaultTTL > 0 && status < 400 {
		return true, ""
	}
	return false, "status"
}

// understoodStatus reports whether the cache knows the caching rules of a
// status code, which is what must-understand asks of it (RFC 9111
// §5.2.2.3): the final status codes RFC 9110 §15 defines.
func understoodStatus(status int) bool {
	switch {
	case status >= 200 && status <= 206, status >= 300 && status <= 308 && status != 306,
		status >= 400 && status <= 417, status == 421, status == 422, status == 426,
		status >= 500 && status <= 505:
		return true
	}
	return false
}

func hasVaryStar(h nethttp.Header) bool {
	for _, name := range varyNames(h) {
		if name == "*" {
			return true
		}
	}
	return false
}

// lifetime is the freshness lifetime of a response (RFC 9111 §4.2.1):
// s-maxage, max-age, Expires minus Date, else a heuristic from
// Last-Modified, else the default TTL. date is the response's Date (its
// receipt time when it has none).
func (p policy) lifetime(status int, h nethttp.Header, cc directives, date time.Time) time.Duration {
	d := p.explicitLifetime(status, h, cc, date)
	if p.maxTTL > 0 && d > p.maxTTL {
		d = p.maxTTL
	}
	return d
}

func (p policy) explicitLifetime(status int, h nethttp.Header, cc directives, date time.Time) time.Duration {
	if s, ok, valid := cc.seconds("s-maxage"); ok {
		return secondsDuration(s, valid)
	}
	if s, ok, valid := cc.seconds("max-age"); ok {
		return secondsDuration(s, valid)
	}
	if exp := h.Values("Expires"); len(exp) > 0 {
		t, err := nethttp.ParseTime(exp[0])
		if err != nil || len(exp) > 1 {
			return 0 // an invalid Expires means already expired
		}
		return max(t.Sub(date), 0)
	}
	if heuristicStatus[status] || cc.has("public") {
		if lm, err := nethttp.ParseTime(h.Get("Last-Modified")); err == nil && lm.Before(date) {
			return min(date.Sub(lm)/10, p.heuristicMax)
		}
	}
	return p.defaultTTL
}

func secondsDuration(s int64, valid bool) time.Duration {
	if !valid {
		return 0
	}
	return time.Duration(s) * time.Second
}

// requestDirectives are the Cache-Control directives of a request, with
// Pragma: no-cache read as no-cache when there is no Cache-Control
// (RFC 9111 §5.4).
func requestDirectives(h nethttp.Header) directives {
	d := parseDirectives(h, "Cache-Control")
	if d == nil {
		d = make(directives)
		for _, v := range h.Values("Pragma") {
			for _, part := range splitList(v) {
				if strings.EqualFold(strings.TrimSpace(part), "no-cache") {
					d["no-cache"] = ""
				}
			}
		}
	}
	return d
}

// correctedInitialAge is the age of a response when it was received
// (RFC 9111 §4.2.3).
func correctedInitialAge(h nethttp.Header, requestTime, responseTime time.Time) time.Duration {
	date, err := nethttp.ParseTime(h.Get("Date"))
	apparent := time.Duration(0)
	if err == nil {
		apparent = max(responseTime.Sub(date), 0)
	}
	corrected := ageValue(h) + max(responseTime.Sub(requestTime), 0)
	return max(apparent, corrected)
}

// ageValue is the Age of a received response (RFC 9111 §5.1): the first
// member of the first field line, as the field is a singleton; a value that
// is not a non-negative integer is ignored (read as 0), and a value past
// 2^31 saturates there (§1.2.2).
func ageValue(h nethttp.Header) time.Duration {
	lines := h.Values("Age")
	if len(lines) == 0 {
		return 0
	}
	first, _, _ := strings.Cut(lines[0], ",")
	first = strings.TrimSpace(first)
	if first == "" || strings.Trim(first, "0123456789") != "" {
		return 0
	}
	n, err := strconv.ParseInt(first, 10, 64)
	if err != nil || n > math.MaxInt32 {
		n = math.MaxInt32
	}
	return time.Duration(n) * time.Second
}
